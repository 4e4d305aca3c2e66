import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_MARKS_IN_A_ROW,
  NAME_PROBLEMS,
  cleanName,
  duplicateNames,
  hasForbiddenNameCharacters,
  nameProblem,
  nameSkeleton,
} from '../../src/engine/names';
import { MAX_NAME_LENGTH } from '../../src/engine/session-api';

// Defined here independently of the implementation: what a person cannot see.
const INVISIBLE_OR_BIDI = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Bidi_Control}]/u;

/** Every invisible or bidi code point the runtime knows (scanned once; ~4,200 of them). */
const INVISIBLES: string[] = (() => {
  const out: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    if (INVISIBLE_OR_BIDI.test(ch)) out.push(ch);
  }
  return out;
})();

const NAMED_INVISIBLES: Record<string, string> = {
  ZWSP: '\u200b',
  ZWNJ: '\u200c',
  ZWJ: '\u200d',
  'word joiner': '\u2060',
  'soft hyphen': '\u00ad',
  BOM: '\ufeff',
  'variation selector 16': '\ufe0f',
  'variation selector 256': '\u{e01ef}',
  'tag latin small a': '\u{e0061}',
  'cancel tag': '\u{e007f}',
  'Hangul filler': '\u3164',
  'Hangul choseong filler': '\u115f',
  'halfwidth Hangul filler': '\uffa0',
  'combining grapheme joiner': '\u034f',
  'Mongolian vowel separator': '\u180e',
  'Khmer inherent vowel': '\u17b4',
  'invisible times': '\u2062',
  'braille blank': '\u2800',
  'interlinear annotation anchor': '\ufff9',
};
const BIDI: Record<string, string> = {
  LRM: '\u200e',
  RLM: '\u200f',
  ALM: '\u061c',
  LRE: '\u202a',
  RLE: '\u202b',
  PDF: '\u202c',
  LRO: '\u202d',
  RLO: '\u202e',
  LRI: '\u2066',
  RLI: '\u2067',
  FSI: '\u2068',
  PDI: '\u2069',
};

/** Names that must stay accepted: the rules must not lock anyone out of their own name. */
const GOOD_NAMES = [
  'Ada',
  'Ada Lovelace',
  'Jean-Luc Picard',
  "O'Brien",
  'O\u2019Brien',
  'Zoë',
  'Nguyễn Văn Anh', // Vietnamese: two marks on one letter in NFD
  'Ἀλέξανδρος', // polytonic Greek
  'Ελένη',
  'Иван Петров',
  'Сосо', // all-Cyrillic: one script, accepted (the skeleton catches it)
  'محمد',
  'שלום',
  'मोहन दास',
  'สมชาย', // Thai
  '田中太郎',
  'ラーメン太郎', // Katakana + Han
  'Tanaka太郎', // Latin + Han (UTS #39 highly restrictive allows it)
  '김민준',
  'Bot 3000',
  'R2-D2',
  'Ꮳ Ꮎ', // Cherokee letters, each word one script
  '👩🏽 Ada', // an emoji with a skin-tone modifier (no joiner)
];

describe('cleanName', () => {
  it('keeps ordinary names from many scripts, NFC, trimmed and with single spaces', () => {
    for (const n of GOOD_NAMES) expect(cleanName(n), n).toBe(n.normalize('NFC'));
    expect(cleanName('  Ada  ')).toBe('Ada');
    expect(cleanName('Ada   Lovelace')).toBe('Ada Lovelace');
    expect(cleanName('Zoe\u0308')).toBe('Zoë'); // NFC
  });

  it('refuses non-strings, empty and over-long names', () => {
    for (const bad of [7, null, undefined, {}, '', '   ', 'x'.repeat(MAX_NAME_LENGTH + 1), 'x'.repeat(10_000)]) {
      expect(cleanName(bad), String(bad).slice(0, 20)).toBeNull();
    }
    expect(cleanName('x'.repeat(MAX_NAME_LENGTH))).toBe('x'.repeat(MAX_NAME_LENGTH));
    expect(nameProblem('')).toBe(NAME_PROBLEMS.missing);
    expect(nameProblem('x'.repeat(65))).toBe(NAME_PROBLEMS.tooLong);
  });

  it('refuses each named invisible character, anywhere in the name', () => {
    for (const [label, ch] of Object.entries(NAMED_INVISIBLES)) {
      for (const n of [`Alice${ch}`, `${ch}Alice`, `Al${ch}ice`, `Ada${ch} Lovelace`]) {
        expect(cleanName(n), `${label} in ${JSON.stringify(n)}`).toBeNull();
        expect(nameProblem(n), label).toBe(NAME_PROBLEMS.invisible);
      }
    }
  });

  it('refuses emoji built with joiners or variation selectors (they hide characters)', () => {
    expect(cleanName('\u2764\ufe0f Bob')).toBeNull();
    expect(cleanName('👩\u200d👩\u200d👧')).toBeNull();
    expect(nameProblem('👩\u200d👩\u200d👧')).toMatch(/emoji/);
  });

  it('refuses every bidi control', () => {
    for (const [label, ch] of Object.entries(BIDI)) {
      expect(cleanName(`Eve${ch}`), label).toBeNull();
      expect(nameProblem(`Eve${ch}evE`), label).toBe(NAME_PROBLEMS.bidi);
    }
  });

  it('refuses controls, line and paragraph separators', () => {
    for (const ch of ['\u0000', '\u0007', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009b', '\u2028', '\u2029']) {
      expect(cleanName(`a${ch}b`), JSON.stringify(ch)).toBeNull();
      expect(cleanName(`Ada${ch}`), JSON.stringify(ch)).toBeNull(); // not trimmed away either
      expect(nameProblem(`a${ch}b`)).toBe(NAME_PROBLEMS.control);
    }
  });

  it('allows only U+0020 as a space', () => {
    for (const ch of ['\u00a0', '\u1680', '\u2000', '\u2003', '\u2007', '\u2009', '\u200a', '\u202f', '\u205f', '\u3000']) {
      expect(cleanName(`Ada${ch}Lovelace`), ch.codePointAt(0)!.toString(16)).toBeNull();
      expect(nameProblem(`Ada${ch}Lovelace`)).toBe(NAME_PROBLEMS.space);
    }
  });

  it('refuses private-use, unassigned, noncharacter and lone-surrogate code points', () => {
    for (const ch of ['\ue000', '\u{f0000}', '\u{10fffd}', '\u0378', '\u{e0080}', '\ufdd0', '\uffff', '\u{1fffe}', '\ud800', '\udc00']) {
      expect(cleanName(`Ada${ch}`), ch.codePointAt(0)!.toString(16)).toBeNull();
    }
    expect(nameProblem('Ada\ue000')).toBe(NAME_PROBLEMS.unassigned);
  });

  it('refuses combining-mark pile-ups, repeated marks and marks without a letter', () => {
    const marks = ['\u0300', '\u0301', '\u0302', '\u0303', '\u0304', '\u0306'];
    expect(cleanName(`e${marks.slice(0, MAX_MARKS_IN_A_ROW).join('')}`)).not.toBeNull();
    expect(cleanName(`e${marks.slice(0, MAX_MARKS_IN_A_ROW + 1).join('')}`)).toBeNull();
    expect(cleanName(`Z${'\u0336'.repeat(30)}algo`)).toBeNull();
    expect(cleanName('a\u0301\u0301')).toBeNull(); // the same mark twice
    expect(cleanName('\u00e1\u0301')).toBeNull(); // ... also when NFC hides the first one
    expect(cleanName('\u0301Ada')).toBeNull(); // no base letter
    expect(cleanName('Ada \u0301')).toBeNull(); // a mark on a space
    expect(nameProblem('a\u0301\u0301')).toBe(NAME_PROBLEMS.marks);
  });

  it('refuses a word that mixes scripts (Cyrillic or Greek look-alikes inside a Latin word)', () => {
    for (const n of [
      '\u0410lice', // Cyrillic А
      'Alic\u0435', // Cyrillic е
      'P\u0430ypal', // Cyrillic а
      '\u0391lice', // Greek Alpha
      'Ad\u03b1', // Greek alpha
      '\u13aalice', // Cherokee Ꭺ (a non-recommended script counts too)
      'Bob \u0410lice', // the second word mixes
      '\u0421\u043e\u0441o', // Cyrillic word with one Latin o
      'Ελληνικάx',
    ]) {
      expect(cleanName(n), n).toBeNull();
      expect(nameProblem(n), n).toBe(NAME_PROBLEMS.mixedScripts);
      expect(nameProblem(n)).toMatch(/mixes alphabets/);
    }
    // Different scripts in different words are fine.
    expect(cleanName('Alice Смирнова')).toBe('Alice Смирнова');
  });

  it('hasForbiddenNameCharacters agrees with cleanName (characters only, not length)', () => {
    expect(hasForbiddenNameCharacters('Ada')).toBe(false);
    expect(hasForbiddenNameCharacters('')).toBe(false);
    expect(hasForbiddenNameCharacters('x'.repeat(100))).toBe(false);
    for (const n of ['Alice\u200b', '\u0410lice', 'a\nb', 'Eve\u202e', 'a\u00a0b', 'a\u0301\u0301']) {
      expect(hasForbiddenNameCharacters(n), n).toBe(true);
      expect(cleanName(n)).toBeNull();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

/** Strings likely to be accepted: letters of one or two scripts, marks, spaces, digits. */
const nameLike = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 70 }),
  fc.string({ unit: fc.constantFrom(...'AaBbEeIilOo01 -\'’.éüñßÆ\u0301\u0308'), maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'АаВЕеОоРрСсХхІіЈјЅѕЖжЯя '), maxLength: 30 }),
  fc.string({ unit: fc.constantFrom(...'ΑαΒΕεΗηΙιΚΜΝΟοΡρΤΥυΧχΣσς '), maxLength: 30 }),
  fc.string({ unit: fc.constantFrom(...'田中太郎ラーメンひらがなTanaka 한국어'), maxLength: 20 }),
);
const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), nameLike);
const acceptedName = nameLike.map((s) => cleanName(s)).filter((s): s is string => s !== null);

describe('name properties', () => {
  it('cleanName is idempotent', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const c = cleanName(s);
        if (c !== null) expect(cleanName(c)).toBe(c);
      }),
      { numRuns: 2000 },
    );
  });

  it('every accepted name is NFC, bounded, single-spaced and holds no invisible or bidi character', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const c = cleanName(s);
        if (c === null) return;
        expect(INVISIBLE_OR_BIDI.test(c)).toBe(false);
        expect(/[\p{Cc}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]/u.test(c)).toBe(false);
        expect(/[^\P{White_Space} ]/u.test(c)).toBe(false);
        expect(c).toBe(c.normalize('NFC'));
        expect(c).toBe(c.trim());
        expect(c).not.toContain('  ');
        expect(c.length).toBeGreaterThan(0);
        expect(c.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
        expect(nameProblem(c)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('nameProblem is null exactly when cleanName accepts', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        expect(nameProblem(s) === null).toBe(cleanName(s) !== null);
      }),
      { numRuns: 1000 },
    );
  });

  it('inserting any invisible or bidi character into an accepted name gets it refused', () => {
    expect(INVISIBLES.length).toBeGreaterThan(4000);
    fc.assert(
      fc.property(acceptedName, fc.constantFrom(...INVISIBLES), fc.nat(), (name, ch, at) => {
        const i = at % (name.length + 1);
        expect(cleanName(name.slice(0, i) + ch + name.slice(i))).toBeNull();
      }),
      { numRuns: 3000 },
    );
    // And every one of them, exhaustively, in the middle of a plain name.
    for (const ch of INVISIBLES) expect(cleanName(`Al${ch}ice`), ch.codePointAt(0)!.toString(16)).toBeNull();
  });

  it('nameSkeleton is idempotent', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const k = nameSkeleton(s);
        expect(nameSkeleton(k)).toBe(k);
      }),
      { numRuns: 3000 },
    );
  });

  it('an invisible character never changes a skeleton', () => {
    fc.assert(
      fc.property(acceptedName, fc.constantFrom(...INVISIBLES), fc.nat(), (name, ch, at) => {
        const i = at % (name.length + 1);
        expect(nameSkeleton(name.slice(0, i) + ch + name.slice(i))).toBe(nameSkeleton(name));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Skeletons and duplicates

describe('nameSkeleton', () => {
  it('makes look-alikes of "Alice" coincide', () => {
    const alice = nameSkeleton('Alice');
    for (const n of [
      'alice',
      'ALICE',
      'AIice', // capital I for l
      'A1ice', // digit one
      'A|ice',
      'Al\u0131ce', // dotless i
      '\uff21\uff4c\uff49\uff43\uff45', // fullwidth
      '\u{1d400}lice', // mathematical bold A
      '\u0410lice', // Cyrillic А (refused by cleanName, but the skeleton agrees anyway)
      '\u0391lice', // Greek Alpha
      'Al\u0456c\u0435', // Cyrillic і and е
      'Alice\u200b',
      ' Alice ',
      'A.lice',
    ]) {
      expect(nameSkeleton(n), n).toBe(alice);
    }
  });

  it('maps whole-word Cyrillic and Greek look-alikes, digits and letter pairs', () => {
    expect(nameSkeleton('Сосо')).toBe(nameSkeleton('Coco')); // Cyrillic
    expect(nameSkeleton('ВОВ')).toBe(nameSkeleton('BOB'));
    expect(nameSkeleton('ΤΟΜ')).toBe(nameSkeleton('TOM')); // Greek capitals
    expect(nameSkeleton('Н\u0415\u041b\u041b\u041e')).not.toBe(nameSkeleton('HELLO')); // Л is not L
    expect(nameSkeleton('B0B')).toBe(nameSkeleton('BOB'));
    expect(nameSkeleton('rnary')).toBe(nameSkeleton('mary'));
    expect(nameSkeleton('vvendy')).toBe(nameSkeleton('Wendy'));
    expect(nameSkeleton('Ƞ')).not.toBe(''); // unmapped letters pass through
  });

  it('ignores spaces and punctuation variants', () => {
    expect(nameSkeleton("O'Brien")).toBe(nameSkeleton('O\u2019Brien'));
    expect(nameSkeleton('OBrien')).toBe(nameSkeleton('O\u2019Brien'));
    expect(nameSkeleton('Ann-Marie')).toBe(nameSkeleton('Ann Marie'));
    expect(nameSkeleton('Ann\u2010Marie')).toBe(nameSkeleton('AnnMarie'));
    expect(nameSkeleton('...')).toBe('...'); // a name of punctuation only keeps it
    expect(nameSkeleton('...')).not.toBe(nameSkeleton('!!!'));
  });

  it('keeps different names apart', () => {
    const names = ['Ada', 'Bob', 'Carol', 'Dave', 'Eve', 'Zoë', 'Zoe', 'Иван', 'محمد', '田中'];
    expect(new Set(names.map(nameSkeleton)).size).toBe(names.length);
  });
});

describe('duplicateNames', () => {
  it('flags every id whose name looks like another one', () => {
    const dupes = duplicateNames([
      { id: 'p1', name: 'Alice' },
      { id: 'p2', name: 'AIice' },
      { id: 'p3', name: 'Bob' },
      { id: 'p4', name: 'Carol' },
      { id: 'p5', name: 'carol' },
      { id: 'p6', name: 'Coco' },
      { id: 'p7', name: 'Сосо' },
    ]);
    expect([...dupes].sort()).toEqual(['p1', 'p2', 'p4', 'p5', 'p6', 'p7']);
  });

  it('flags identical names and ignores a single entry or a repeated id', () => {
    expect([...duplicateNames([{ id: 'a', name: 'Ada' }, { id: 'b', name: 'Ada' }])].sort()).toEqual(['a', 'b']);
    expect(duplicateNames([{ id: 'a', name: 'Ada' }]).size).toBe(0);
    expect(duplicateNames([{ id: 'a', name: 'Ada' }, { id: 'a', name: 'ADA' }]).size).toBe(0);
    expect(duplicateNames([]).size).toBe(0);
  });
});
