/**
 * Display names: the one place that decides whether a name may be shown to other people, and
 * when two names look alike.
 *
 * A name is what a person reads to decide who they are talking to, and (until cert-bound
 * identity) what a verification pin is filed under (see `trust.ts`). So a name that renders like
 * another name must not slip past either check. Two defences, in the spirit of Unicode UTS #39
 * (Security Mechanisms) and UAX #31 (Identifiers):
 *
 * 1. `cleanName` refuses names that hide or disguise characters: invisible characters (every
 *    Default_Ignorable_Code_Point and format (Cf) character: ZWSP, ZWNJ, ZWJ, word joiner, soft
 *    hyphen, BOM, variation selectors, tag characters, Hangul fillers, ...), bidi controls,
 *    controls and line/paragraph separators, private-use, unassigned and lone-surrogate code
 *    points, every space but U+0020, combining-mark pile-ups and marks with no letter, and words
 *    that mix scripts (UTS #39 "highly restrictive": one script per word, Common and Inherited
 *    allowed, plus the customary Latin+Han+Kana / Latin+Han+Bopomofo / Latin+Han+Hangul mixes).
 *    "Аlice" with a Cyrillic А is therefore refused outright.
 * 2. `nameSkeleton` maps a name to a form in which look-alikes coincide (NFKC, lookalike table,
 *    case fold, no spaces or punctuation), for what (1) cannot refuse: a whole word in another
 *    script ("Сосо" in Cyrillic vs "Coco"), fullwidth or mathematical letters, "AIice" with a
 *    capital I, case. Pins are keyed by skeleton and `duplicateNames` flags collisions.
 *
 * The rules use `\p{...}` Unicode property escapes, so they follow the runtime's Unicode tables
 * (Node 20: Unicode 15.x; Chromium: newer). A character assigned after the runtime's Unicode
 * version is "unassigned" there and refused, which fails closed.
 */
import { MAX_NAME_LENGTH } from './session-api';

// ---------------------------------------------------------------------------------------------
// Character classes (each one is a reason a name is refused)

/** Bidi controls: LRM, RLM, ALM, embeddings, overrides, isolates. Checked before `INVISIBLE`. */
const BIDI_CONTROL = /\p{Bidi_Control}/u;
/** C0, DEL, C1 controls and the line/paragraph separators. */
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
/** Every whitespace character except U+0020 (NBSP, en/em/thin spaces, ideographic space, ...). */
const ODD_SPACE = /[^\P{White_Space} ]/u;
/**
 * Characters that render as nothing (or as blank) in most fonts: every Default_Ignorable_Code_Point
 * (includes ZWJ/ZWNJ, CGJ, variation selectors, Hangul fillers, Mongolian FVS, Khmer inherent
 * vowels) and every format character (ZWSP, WJ, soft hyphen, BOM, invisible operators, tags),
 * plus U+2800 BRAILLE PATTERN BLANK, which is a symbol that is drawn as an empty cell.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\u2800]/u;
/** Private-use, unassigned (including noncharacters) and unpaired surrogate code points. */
const UNASSIGNED = /[\p{Co}\p{Cn}\p{Cs}]/u;
const MARK = /\p{M}/u;
const NONSPACING_MARK = /[\p{Mn}\p{Me}]/u;
/**
 * At most this many nonspacing marks in a row, counted in NFD. Vietnamese needs 2 (ệ = e +
 * dot below + circumflex); polytonic Greek and pointed Hebrew need 3; "Zalgo" text needs many.
 * UTS #39 section 5.4 suggests forbidding more than 4; we allow 3.
 */
export const MAX_MARKS_IN_A_ROW = 3;
/** Raw input longer than this is refused before any normalisation work (bounded cost). */
const MAX_RAW_NAME_LENGTH = MAX_NAME_LENGTH * 4;

// ---------------------------------------------------------------------------------------------
// Scripts (UTS #39 section 5.1 "highly restrictive", applied per word)

/**
 * UAX #31 Table 4 "Recommended Scripts". A letter outside these (and outside Common/Inherited)
 * counts as the script "Other", so Latin mixed with e.g. Cherokee (Ꭺ) is refused too. Two
 * different non-recommended scripts in one word are not told apart (a documented gap).
 */
const RECOMMENDED_SCRIPTS = [
  'Arabic', 'Armenian', 'Bengali', 'Bopomofo', 'Cyrillic', 'Devanagari', 'Ethiopic', 'Georgian',
  'Greek', 'Gujarati', 'Gurmukhi', 'Han', 'Hangul', 'Hebrew', 'Hiragana', 'Kannada', 'Katakana',
  'Khmer', 'Lao', 'Latin', 'Malayalam', 'Myanmar', 'Oriya', 'Sinhala', 'Tamil', 'Telugu',
  'Thaana', 'Thai', 'Tibetan',
] as const;
const SCRIPT_RES: readonly (readonly [string, RegExp])[] = RECOMMENDED_SCRIPTS.map(
  (s) => [s, new RegExp(`\\p{Script=${s}}`, 'u')] as const,
);
const OTHER_SCRIPT = new RegExp(
  `[^\\p{Script=Common}\\p{Script=Inherited}${RECOMMENDED_SCRIPTS.map((s) => `\\p{Script=${s}}`).join('')}]`,
  'u',
);
/** Script sets a single word may combine (UTS #39 highly restrictive). */
const ALLOWED_MIXES: readonly ReadonlySet<string>[] = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

function scriptsOfWord(word: string): Set<string> {
  const found = new Set<string>();
  for (const [name, re] of SCRIPT_RES) if (re.test(word)) found.add(name);
  if (OTHER_SCRIPT.test(word)) found.add('Other');
  return found;
}

function isSingleScript(word: string): boolean {
  const scripts = scriptsOfWord(word);
  if (scripts.size <= 1) return true;
  return ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.has(s)));
}

// ---------------------------------------------------------------------------------------------
// The one name check

/** Why a name is refused; the text is shown to the person typing it. */
export const NAME_PROBLEMS = {
  missing: 'Enter your name so others know who you are.',
  tooLong: `Use at most ${MAX_NAME_LENGTH} characters for your name.`,
  bidi: 'Your name contains text-direction control characters; remove them.',
  control: 'Your name contains control characters or line breaks; remove them.',
  space: 'Your name contains an unusual space character; use ordinary spaces only.',
  invisible:
    'Your name contains invisible characters (such as zero-width spaces, or the joiners and variation selectors inside some emoji); remove them.',
  unassigned: 'Your name contains private-use or unassigned characters; remove them.',
  marks: 'Your name has accent marks stacked on one letter, repeated, or without a letter; remove some.',
  mixedScripts:
    'Your name mixes alphabets (e.g. Latin and Cyrillic) within one word, which can make it look like someone else\u2019s name; use one alphabet per word.',
} as const;

type Verdict = { ok: true; name: string } | { ok: false; problem: string; forbiddenCharacters: boolean };

function refuse(problem: string, forbiddenCharacters = true): Verdict {
  return { ok: false, problem, forbiddenCharacters };
}

function marksProblem(name: string): boolean {
  const nfd = name.normalize('NFD');
  let run = 0;
  let prev = ' '; // a mark at the very start has no letter to sit on
  for (const ch of nfd) {
    if (MARK.test(ch)) {
      if (prev === ' ') return true; // no base letter
      if (NONSPACING_MARK.test(ch)) {
        run++;
        if (run > MAX_MARKS_IN_A_ROW) return true;
        if (ch === prev) return true; // the same mark twice (UTS #39 section 5.4)
      } else {
        run = 0;
      }
    } else {
      run = 0;
    }
    prev = ch;
  }
  return false;
}

function judge(v: unknown): Verdict {
  if (typeof v !== 'string') return refuse(NAME_PROBLEMS.missing, false);
  if (v.length > MAX_RAW_NAME_LENGTH) return refuse(NAME_PROBLEMS.tooLong, false);
  // Character checks come first, on the raw text: a refused character must be refused wherever
  // it sits, also at either end (trimming would hide it rather than refuse it).
  if (BIDI_CONTROL.test(v)) return refuse(NAME_PROBLEMS.bidi);
  if (CONTROL.test(v)) return refuse(NAME_PROBLEMS.control);
  if (ODD_SPACE.test(v)) return refuse(NAME_PROBLEMS.space);
  if (INVISIBLE.test(v)) return refuse(NAME_PROBLEMS.invisible);
  if (UNASSIGNED.test(v)) return refuse(NAME_PROBLEMS.unassigned);
  const name = v.normalize('NFC').replace(/ {2,}/g, ' ').trim();
  if (name.length === 0) return refuse(NAME_PROBLEMS.missing, false);
  if (name.length > MAX_NAME_LENGTH) return refuse(NAME_PROBLEMS.tooLong, false);
  if (marksProblem(name)) return refuse(NAME_PROBLEMS.marks);
  if (!name.split(' ').every(isSingleScript)) return refuse(NAME_PROBLEMS.mixedScripts);
  return { ok: true, name };
}

/**
 * The name as it may be shown to others (NFC, ordinary spaces only, trimmed, runs of spaces
 * collapsed, at most MAX_NAME_LENGTH UTF-16 units), or null when it is refused (see the module
 * comment for the rules). Idempotent: `cleanName(cleanName(x)) === cleanName(x)`.
 */
export function cleanName(v: unknown): string | null {
  const verdict = judge(v);
  return verdict.ok ? verdict.name : null;
}

/** Why `cleanName` refuses `raw`, in words for the person who typed it; null when accepted. */
export function nameProblem(raw: unknown): string | null {
  const verdict = judge(raw);
  return verdict.ok ? null : verdict.problem;
}

/**
 * True when `name` is refused for the characters it holds (invisible, bidi, control, unusual
 * space, unassigned, marks, mixed scripts), as opposed to being empty or too long. Consistent
 * with `cleanName`. Prefer `nameProblem`, which also says why.
 */
export function hasForbiddenNameCharacters(name: string): boolean {
  const verdict = judge(name);
  return !verdict.ok && verdict.forbiddenCharacters;
}

// ---------------------------------------------------------------------------------------------
// Skeletons (UTS #39 section 4, a bounded subset)

/**
 * Lookalikes applied before case folding: capitals whose small letter looks different (Greek
 * Eta "Η" looks like H, its small "η" like n), so they must be mapped while the case is known.
 */
const UPPER_LOOKALIKES: Readonly<Record<string, string>> = {
  // Greek capitals
  'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N',
  'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X', 'Ϲ': 'C', 'Ϳ': 'J',
  // Cyrillic capitals
  'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C',
  'Т': 'T', 'Х': 'X', 'У': 'Y', 'Ү': 'Y', 'І': 'I', 'Ј': 'J', 'Ѕ': 'S', 'Ԛ': 'Q', 'Ԝ': 'W',
  'Ӏ': 'l', 'Ԁ': 'd', 'Һ': 'h',
};

/** Lookalikes applied after case folding (small letters, digits, letter-like punctuation). */
const LOWER_LOOKALIKES: Readonly<Record<string, string>> = {
  // Cyrillic small letters
  'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'х': 'x', 'у': 'y', 'і': 'i', 'ј': 'j',
  'ѕ': 's', 'ԁ': 'd', 'һ': 'h', 'ԛ': 'q', 'ԝ': 'w', 'ѵ': 'v', 'ү': 'y', 'ӏ': 'l', 'ɡ': 'g',
  // Greek small letters
  'α': 'a', 'ο': 'o', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'ρ': 'p', 'υ': 'u', 'χ': 'x', 'ϲ': 'c',
  'ϳ': 'j',
  // Latin look-alikes of other Latin letters
  'ı': 'i', 'ɩ': 'i', 'ɑ': 'a', 'ɪ': 'i', 'ʟ': 'l', 'ǀ': 'l', 'ǃ': '!',
  // Digits and bars that pass for letters. Because the skeleton is case-insensitive, "I"
  // (capital i) has become "i" by now, so "i" joins "l" for "AIice" to meet "Alice".
  '0': 'o', '1': 'l', '|': 'l', 'i': 'l',
};

/** Letter pairs that render like one letter in common sans-serif fonts. */
const LOOKALIKE_PAIRS: readonly (readonly [RegExp, string])[] = [
  [/rn/g, 'm'],
  [/vv/g, 'w'],
];

/** Removed from skeletons: invisible and control characters, every space and punctuation. */
const SKELETON_DROP = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Cc}\p{Zl}\p{Zp}\p{White_Space}\u2800]/gu;
const PUNCTUATION = /\p{P}/gu;

function mapChars(s: string, table: Readonly<Record<string, string>>): string {
  let out = '';
  for (const ch of s) out += table[ch] ?? ch;
  return out;
}

function skeletonPass(s: string): string {
  let t = s.normalize('NFKC').replace(SKELETON_DROP, '');
  t = mapChars(t, UPPER_LOOKALIKES);
  // Case fold: toUpperCase then toLowerCase approximates Unicode full case folding closely
  // enough here (ß -> ss, final sigma -> sigma); then NFKC again as folding can decompose.
  t = t.toUpperCase().toLowerCase().normalize('NFKC');
  t = mapChars(t, LOWER_LOOKALIKES);
  // Punctuation goes before the pair rules, so "r.n" and "rn" meet; a name of punctuation
  // only keeps it (else every such name would share the empty skeleton).
  const bare = t.replace(PUNCTUATION, '');
  if (bare.length > 0) t = bare;
  for (const [re, to] of LOOKALIKE_PAIRS) t = t.replace(re, to);
  return t;
}

/**
 * A form of `name` in which names that look alike coincide, in the spirit of the UTS #39
 * skeleton: NFKC, invisible characters and spaces removed, a table of Cyrillic, Greek, digit
 * and letter-pair lookalikes mapped to Latin, case folded, punctuation removed (so "O'Brien",
 * "O’Brien" and "OBrien" meet; a name of punctuation only keeps it). Idempotent:
 * `nameSkeleton(nameSkeleton(x)) === nameSkeleton(x)`.
 *
 * The table is a small subset of the Unicode confusables table (confusables.txt, UTS #39
 * section 4) chosen by hand from its entries for the Latin alphabet: the Cyrillic and Greek
 * letters that render identically to Latin ones in common fonts, digits 0/1, I/l/|, rn/vv.
 * The full table has ~6,300 mappings (~200 KB) and would have to ship in the extension and be
 * kept in step with Unicode releases; most of its entries map between scripts that the
 * mixed-script rule of `cleanName` already refuses within a word. Names that collide only
 * under entries left out are a documented gap; the skeleton errs towards merging (i ~ l), which
 * costs at worst a look-alike warning between genuinely different people.
 */
export function nameSkeleton(name: string): string {
  const key = String(name);
  const known = SKELETONS.get(key);
  if (known !== undefined) return known;
  const skeleton = computeSkeleton(key);
  // Every view marks look-alikes across the roster, so the same few names come back each time.
  if (SKELETONS.size >= MAX_CACHED_SKELETONS) SKELETONS.clear();
  SKELETONS.set(key, skeleton);
  return skeleton;
}

/** Skeletons of recently seen names (a pure function of the name, so caching cannot go stale). */
const SKELETONS = new Map<string, string>();
const MAX_CACHED_SKELETONS = 512;

function computeSkeleton(name: string): string {
  let s = name;
  // Passes until nothing changes (NFKC, folding and pair rules can expose new lookalikes), so
  // the result is a fixed point; bounded, and in practice two passes suffice.
  for (let i = 0; i < 8; i++) {
    const next = skeletonPass(s);
    if (next === s) break;
    s = next;
  }
  return s;
}

/**
 * The ids whose name's skeleton equals another entry's (a different id), so a roster can mark
 * look-alike names. Identical names are look-alikes too.
 */
export function duplicateNames(names: readonly { id: string; name: string }[]): Set<string> {
  const bySkeleton = new Map<string, Set<string>>();
  for (const { id, name } of names) {
    const key = nameSkeleton(name);
    let ids = bySkeleton.get(key);
    if (!ids) bySkeleton.set(key, (ids = new Set()));
    ids.add(id);
  }
  const out = new Set<string>();
  for (const ids of bySkeleton.values()) if (ids.size > 1) for (const id of ids) out.add(id);
  return out;
}
