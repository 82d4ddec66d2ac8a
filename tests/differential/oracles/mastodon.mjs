// Mastodon's rule, ported to JavaScript for the differential tests, independently of postmast's
// Python code (connectors/mastodon/length.py). Mastodon has no runnable library: its rule is Ruby
// in its server. This file follows, line by line, the Ruby it names:
//
// - StatusLengthValidator (app/validators/status_length_validator.rb): the content warning joined
//   to the text's `countable_text`, counted in grapheme clusters (`each_grapheme_cluster`), over
//   500 is refused; `countable_text` is '' for a blank text, else URLs become 'x' * 23 and
//   mentions `@user@domain` become `@user`, after `remove_overlapping_entities`.
// - Status#prepare_contents (app/models/status.rb): text and content warning are `strip`ped first.
// - Extractor (app/lib/extractor.rb): mentions by Account::MENTION_RE (app/models/account.rb),
//   dropped when followed by an at sign, a Latin accent or `://` (twitter-text's
//   end_mention_match) or when their domain is longer than MAX_DOMAIN_LENGTH (253).
// - URLs by twitter-text 3.1.0's Ruby extractor (rb/lib/twitter-text/extractor.rb,
//   `extract_urls_with_indices(text, extract_url_without_protocol: false)`) with the regular
//   expressions of rb/lib/twitter-text/regex.rb as config/initializers/twitter_regex.rb patches them.
//   The top-level domains are twitter-text's own list, read from the twitter-text npm package.
// - IDN::Idna.toASCII (idn-ruby, libidn: IDNA2003, nameprep without unassigned code points) with
//   RFC 3454's tables from the saslprep npm package.
// - Ruby 3.4's grapheme clusters (Unicode 15.0): Intl.Segmenter's clusters, split again where the
//   Unicode 15.1 rule GB9c joined an Indic conjunct (InCB data from unicode-segmenter).
//
// Reads a JSON array of [text, spoiler_text] pairs on stdin, writes a JSON array of results.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
const punycode = createRequire(import.meta.url)('punycode/');
import twitter from 'twitter-text';

const require = createRequire(import.meta.url);
const stringprep = require('saslprep/lib/code-points.js');
const segmenterDir = dirname(require.resolve('unicode-segmenter/package.json'));
const { consonant_ranges: CONSONANTS } = await import(pathToFileURL(join(segmenterDir, '_incb_data.js')).href);

const MAX_CHARS = 500;
const URL_PLACEHOLDER = 'x'.repeat(23);
const MAX_DOMAIN_LENGTH = 253;
const MAX_URL_LENGTH = 4096;
const MAX_TCO_SLUG_LENGTH = 40;

// -- twitter-text 3.1.0 (Ruby) regex.rb, as Mastodon's initializer patches it -----------------------
const tlds = (source) => source.match(/^\(\?:\(\?:(.*)\)\(\?=/)[1];
const GTLD = tlds(twitter.regexen.validGTLD.source);
const CCTLD = tlds(twitter.regexen.validCCTLD.source);
const UNICODE_SPACES = '\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u180e\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const DIRECTIONAL = '\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
const INVALID = '\\ufffe\\ufeff\\uffff';
const LATIN_ACCENTS =
  '\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u00ff\\u0100-\\u024f\\u0253\\u0254\\u0256\\u0257\\u0259\\u025b\\u0263' +
  '\\u0268\\u026f\\u0272\\u0289\\u028b\\u02bb\\u0300-\\u036f\\u1e00-\\u1eff';
// PUNCTUATION_CHARS, SPACE_CHARS and CTRL_CHARS as Ruby reads them inside a character class.
const PUNCTUATION = '!"#$%&\'()*+,\\-./:;<=>?@\\[\\]^_`{|}~';
const DOMAIN_CHAR = `[^${DIRECTIONAL}${PUNCTUATION} \\t\\n\\u000b\\f\\r\\u0000-\\u001f\\u007f${INVALID}${UNICODE_SPACES}]`;
const SUBDOMAIN = `(?:(?:${DOMAIN_CHAR}(?:[_\\-]|${DOMAIN_CHAR})*)?${DOMAIN_CHAR}\\.)`;
const DOMAIN_NAME = `(?:(?:${DOMAIN_CHAR}(?:[\\-]|${DOMAIN_CHAR})*)?${DOMAIN_CHAR}\\.)`;
const TLD_END = '(?=[^0-9a-z@+\\-]|$)';
const DOMAIN = `(?:${SUBDOMAIN}*${DOMAIN_NAME}(?:(?:(?:${GTLD})${TLD_END})|(?:(?:${CCTLD})${TLD_END})|(?:xn--[0-9a-z]+)))`;
const PRECEDING = `(?:[^A-Z0-9@＠$#＃${INVALID}]|[${DIRECTIONAL}]|^)`;
// twitter-text's own path characters and balanced parentheses (the patched ending characters still use them)
const ORIGINAL_PATH_CHAR = `[a-z\\p{Script=Cyrillic}0-9!*';:=+,.$/%#\\[\\]\\p{Pd}_~&|@${LATIN_ACCENTS}]`;
const parens = (c) => `\\((?:${c}+|(?:${c}*\\(${c}+\\)${c}*))\\)`;
// Mastodon's patches
const PATH_CHAR = '[^\\p{White_Space}<>()?]';
const PATH_END = `(?:[^\\p{White_Space}()?!*"'「」<>;:=,.$%\\[\\]~&|@]|(?:${parens(ORIGINAL_PATH_CHAR)}))`;
const PATH = `(?:(?:${PATH_CHAR}*(?:${parens(PATH_CHAR)}${PATH_CHAR}*)*${PATH_END})|(?:${PATH_CHAR}+/))`;
const UCHARS =
  '\\u{A0}-\\u{D7FF}\\u{F900}-\\u{FDCF}\\u{FDF0}-\\u{FFEF}\\u{10000}-\\u{1FFFD}\\u{20000}-\\u{2FFFD}\\u{30000}-\\u{3FFFD}' +
  '\\u{40000}-\\u{4FFFD}\\u{50000}-\\u{5FFFD}\\u{60000}-\\u{6FFFD}\\u{70000}-\\u{7FFFD}\\u{80000}-\\u{8FFFD}\\u{90000}-\\u{9FFFD}' +
  '\\u{A0000}-\\u{AFFFD}\\u{B0000}-\\u{BFFFD}\\u{C0000}-\\u{CFFFD}\\u{D0000}-\\u{DFFFD}\\u{E1000}-\\u{EFFFD}\\u{E000}-\\u{F8FF}' +
  '\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}';
const QUERY_CHAR = `[a-z0-9!?*'();:&=+$/%#\\[\\]\\-_.,~|@\\^${UCHARS}]`;
const QUERY_END = `[a-z0-9_&=#/\\-${UCHARS}]`;
const VALID_URL = new RegExp(
  `((${PRECEDING})(((?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?(${DOMAIN})(?::([0-9]+))?(/${PATH}*)?(\\?${QUERY_CHAR}*${QUERY_END})?))`,
  'giu',
);
const TCO = /^https?:\/\/t\.co\/([a-z0-9]+)/iu;

// -- Account::MENTION_RE and twitter-text's end_mention_match ----------------------------------------
const WORD = '[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]';
// USERNAME_RE is case-insensitive: with Unicode case folding [a-z] also takes U+017F and U+212A.
const USER_CHAR = '[a-zA-Z0-9_\\u017f\\u212a]';
const MENTION = new RegExp(`(?<![=/]|${WORD})@((${USER_CHAR}+(?:[.\\-]+${USER_CHAR}+)*)(?:@${WORD}+(?:[.\\-]+${WORD}+)*)?)`, 'gu');
const END_MENTION = new RegExp(`^(?:[@＠]|[${LATIN_ACCENTS}]+|://)`, 'u');

const codepoints = (s) => [...s].length;

// -- IDN::Idna.toASCII: RFC 3490 ToASCII with nameprep (RFC 3491), unassigned code points refused ----
function nameprep(label) {
  let mapped = '';
  for (const ch of label) {
    if (!stringprep.commonly_mapped_to_nothing.has(ch.codePointAt(0))) mapped += ch; // B.1
  }
  const fold = (s) => s.toUpperCase().toLowerCase(); // B.2: case folding (full, as ß -> ss)
  mapped = fold(fold(mapped).normalize('NFKC')).normalize('NFKC');
  const points = [...mapped].map((c) => c.codePointAt(0));
  for (const cp of points) {
    if (cp === 0x20) continue; // C.1.1 is not prohibited by nameprep
    if (stringprep.prohibited_characters.has(cp) && cp > 0x7f) throw new Error('prohibited');
    if (stringprep.unassigned_code_points.has(cp)) throw new Error('unassigned');
  }
  const rtl = points.some((cp) => stringprep.bidirectional_r_al.has(cp));
  if (rtl) {
    if (points.some((cp) => stringprep.bidirectional_l.has(cp))) throw new Error('bidi');
    const first = points[0];
    const last = points[points.length - 1];
    if (!stringprep.bidirectional_r_al.has(first) || !stringprep.bidirectional_r_al.has(last)) throw new Error('bidi');
  }
  return mapped;
}

function toAsciiLabel(label) {
  let out = label;
  if (/[^\u0000-\u007f]/u.test(out)) {
    out = nameprep(out);
    if (/[^\u0000-\u007f]/u.test(out)) {
      if (out.startsWith('xn--')) throw new Error('ace prefix');
      out = 'xn--' + punycode.encode(out);
    }
  }
  if (out.length < 1 || out.length > 63) throw new Error('length');
  return out;
}

function toAscii(domain) {
  const labels = domain.split(/[.\u3002\uff0e\uff61]/u);
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop();
  return labels.map(toAsciiLabel).join('.');
}

function isValidDomain(urlLength, domain) {
  try {
    const encoded = toAscii(domain);
    const grown = encoded.length - codepoints(domain);
    return urlLength + (grown > 0 ? grown : 0) <= MAX_URL_LENGTH;
  } catch {
    return false;
  }
}

// -- Extractor -------------------------------------------------------------------------------------
function extractUrls(text) {
  if (!text.includes(':')) return [];
  const urls = [];
  VALID_URL.lastIndex = 0;
  let m;
  while ((m = VALID_URL.exec(text))) {
    const before = m[2];
    let url = m[3];
    const protocol = m[4];
    const domain = m[5];
    const start = m.index + before.length;
    let end = start + url.length;
    if (!protocol) continue; // extract_url_without_protocol: false
    const tco = url.match(TCO);
    if (tco) {
      if (tco[1] && codepoints(tco[1]) > MAX_TCO_SLUG_LENGTH) continue;
      url = tco[0];
      end = start + url.length;
    }
    if (!isValidDomain(codepoints(url), domain)) continue;
    urls.push({ url, indices: [start, end] });
  }
  return urls;
}

function extractMentions(text) {
  if (!/[@＠]/u.test(text)) return [];
  const found = [];
  MENTION.lastIndex = 0;
  let m;
  while ((m = MENTION.exec(text))) {
    const after = text.slice(m.index + m[0].length);
    if (END_MENTION.test(after)) continue;
    const domain = m[1].split('@')[1];
    if (domain && !/^[\p{White_Space}]*$/u.test(domain) && codepoints(domain) > MAX_DOMAIN_LENGTH) continue;
    found.push({ screen_name: m[1], indices: [m.index, m.index + m[0].length] });
  }
  return found;
}

function removeOverlapping(entities) {
  const sorted = [...entities].sort((a, b) => a.indices[0] - b.indices[0]);
  const kept = [];
  for (const entity of sorted) {
    const prev = kept[kept.length - 1];
    if (prev && prev.indices[1] > entity.indices[0]) continue;
    kept.push(entity);
  }
  return kept;
}

// -- StatusLengthValidator ---------------------------------------------------------------------------
const blank = (s) => /^[\p{White_Space}]*$/u.test(s);
const rubyStrip = (s) => s.replace(/^[\u0000\t\n\u000b\f\r ]+|[\u0000\t\n\u000b\f\r ]+$/gu, '');

function countableText(text) {
  if (blank(text)) return '';
  const entities = removeOverlapping([...extractUrls(text), ...extractMentions(text)]);
  let result = '';
  let last = 0;
  for (const entity of entities) {
    result += text.slice(last, entity.indices[0]);
    result += entity.url !== undefined ? URL_PLACEHOLDER : '@' + entity.screen_name.split('@')[0];
    last = entity.indices[1];
  }
  return result + text.slice(last);
}

const isConsonant = (cp) => CONSONANTS.some(([from, to]) => from <= cp && cp <= to);
const LINKERS = new Set([0x094d, 0x09cd, 0x0acd, 0x0b4d, 0x0c4d, 0x0d4d]);
const segmenter = new Intl.Segmenter();

/** Grapheme clusters without GB9c (Unicode 15.1), as Ruby 3.4 (Unicode 15.0) counts them. */
function graphemes(text) {
  let count = 0;
  for (const { segment } of segmenter.segment(text)) {
    count += 1;
    let linked = false;
    let index = 0;
    for (const ch of segment) {
      const cp = ch.codePointAt(0);
      if (index > 0 && linked && isConsonant(cp)) count += 1;
      if (LINKERS.has(cp)) linked = true;
      else if (!/[\p{M}\u200d]/u.test(ch)) linked = false;
      index += 1;
    }
  }
  return count;
}

const inputs = JSON.parse(readFileSync(0, 'utf8'));
const results = inputs.map(([text, spoiler]) => {
  const length = graphemes(rubyStrip(spoiler) + countableText(rubyStrip(text)));
  return { length, ok: length <= MAX_CHARS, urls: extractUrls(rubyStrip(text)).map((u) => u.url) };
});
process.stdout.write(JSON.stringify(results));
