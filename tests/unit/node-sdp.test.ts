import { describe, expect, it } from 'vitest';
import { offerAsDtlsClient } from '../../src/agent/node/peer-connection';

describe('offerAsDtlsClient', () => {
  it('makes a first offer take the DTLS client role and leaves everything else alone', () => {
    const sdp = 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\na=mid:a0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=setup:actpass\r\n';
    const out = offerAsDtlsClient(sdp);
    expect(out.match(/a=setup:active\r\n/g)).toHaveLength(2);
    expect(out).not.toContain('actpass');
    expect(out.replace(/a=setup:active/g, 'a=setup:actpass')).toBe(sdp);
  });

  it('handles bare newlines and does not touch passive or active lines', () => {
    expect(offerAsDtlsClient('a=setup:actpass\na=setup:passive\n')).toBe('a=setup:active\na=setup:passive\n');
    expect(offerAsDtlsClient('x=a=setup:actpass\n')).toBe('x=a=setup:actpass\n');
  });
});
