/**
 * Measures who is speaking where the audio is: every microphone track in the media registry
 * (our own while it is on, and each member's that plays here) gets an AnalyserNode in one
 * AudioContext. While at least one is there, their RMS levels are read every 200 ms and fed
 * to the pure `SpeakingTracker` (hysteresis), and who speaks is published through the
 * registry (`speaking()`), which the stage follows.
 *
 * Cheap on purpose: no audio is processed beyond what an analyser copies on each read, the
 * analysers are not connected to the speakers (a muted gain keeps Chromium pulling the graph),
 * and with no microphone in the call the timer stops and the context is suspended.
 */
import type { Logger } from '../../src/engine/platform';
import { entryKey, type MediaEntry, type MediaRegistry } from '../../src/extension/media-registry';
import { SpeakingTracker, rmsLevel } from '../../src/extension/speaking';

/** How often levels are read. */
export const POLL_MS = 200;
/**
 * Samples per read: ~340 ms at 48 kHz, longer than POLL_MS, so reads overlap and a short
 * sound between two reads is never missed.
 */
const FFT_SIZE = 16384;

interface Meter {
  peerId: string;
  track: MediaStreamTrack | undefined;
  source: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
}

export class SpeakingMeter {
  private ctx: AudioContext | null = null;
  private sink: GainNode | null = null;
  private readonly meters = new Map<string, Meter>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly tracker = new SpeakingTracker();
  private buffer: Float32Array<ArrayBuffer> | null = null;
  private warnedSuspended = false;

  constructor(
    private readonly registry: MediaRegistry,
    private readonly log: Logger,
  ) {}

  /** Follows the registry's microphone entries: a meter for each new one, none for gone ones. Never throws. */
  sync(): void {
    try {
      const mics = new Map<string, MediaEntry>();
      for (const e of this.registry.list()) if (e.lane === 'mic') mics.set(entryKey(e), e);
      for (const [key, m] of this.meters) {
        const e = mics.get(key);
        if (!e || e.stream.getAudioTracks()[0] !== m.track) this.drop(key);
      }
      for (const [key, e] of mics) if (!this.meters.has(key)) this.add(key, e);
      if (this.meters.size > 0) this.run();
      else this.idle();
    } catch (err) {
      this.log.warn('speaking meter could not follow the microphones', { error: String(err) });
    }
  }

  private context(): AudioContext {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.sink = this.ctx.createGain();
      this.sink.gain.value = 0;
      this.sink.connect(this.ctx.destination);
    }
    return this.ctx;
  }

  private add(key: string, e: MediaEntry): void {
    const track = e.stream.getAudioTracks()[0];
    if (!track || track.readyState === 'ended') return;
    const ctx = this.context();
    const source = ctx.createMediaStreamSource(e.stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = FFT_SIZE;
    source.connect(analyser);
    if (this.sink) analyser.connect(this.sink);
    this.meters.set(key, { peerId: e.peerId, track, source, analyser });
  }

  private drop(key: string): void {
    const m = this.meters.get(key);
    if (!m) return;
    this.meters.delete(key);
    try {
      m.source.disconnect();
      m.analyser.disconnect();
    } catch {
      /* already disconnected */
    }
  }

  private run(): void {
    const ctx = this.ctx;
    if (ctx && ctx.state === 'suspended') {
      ctx.resume().catch((err: unknown) => {
        if (!this.warnedSuspended) this.log.warn('the speaking meter could not start audio', { error: String(err) });
        this.warnedSuspended = true;
      });
    }
    if (this.timer === null) this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  private idle(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.tracker.update(new Map(), performance.now());
    this.registry.setSpeaking([]);
    if (this.ctx && this.ctx.state === 'running') this.ctx.suspend().catch(() => undefined);
  }

  private poll(): void {
    try {
      const levels = new Map<string, number>();
      for (const m of this.meters.values()) {
        const n = m.analyser.fftSize;
        if (!this.buffer || this.buffer.length !== n) this.buffer = new Float32Array(n);
        m.analyser.getFloatTimeDomainData(this.buffer);
        levels.set(m.peerId, Math.max(levels.get(m.peerId) ?? 0, rmsLevel(this.buffer)));
      }
      this.registry.setSpeaking(this.tracker.update(levels, performance.now()));
    } catch (err) {
      this.log.warn('speaking meter read failed', { error: String(err) });
    }
  }
}
