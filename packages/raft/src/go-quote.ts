/**
 * Go's `%q` of a byte slice (`strconv.Quote(string(b))`), which etcd's describe functions use for
 * entry data and contexts, so the conformance corpus expects exactly its escapes.
 *
 * The rules, in order, for each UTF-8 sequence of the input:
 * - an invalid byte (not the start of a valid, shortest-form UTF-8 sequence) prints as `\xNN`;
 * - `"` and `\` print backslash-escaped;
 * - a printable rune (Unicode letters, marks, numbers, punctuation, symbols, and the ASCII space)
 *   prints as itself;
 * - `\a \b \f \n \r \t \v` print as such;
 * - other runes below U+0020 and U+007F print as `\xNN`, others below U+10000 as `\uNNNN`, the rest
 *   as `\UNNNNNNNN` (lower-case hex throughout).
 *
 * "Printable" follows the JS engine's Unicode tables, which may be a version ahead of Go's for
 * recently assigned characters; for everything assigned before Unicode 15 the two agree.
 */

const HEX = "0123456789abcdef";

// Go's unicode.IsPrint: categories L, M, N, P, S plus U+0020 (other spaces are not printable).
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go's `%q` of a byte slice: a double-quoted string literal with Go's escapes. */
export function goQuote(data: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < data.length) {
    const [r, width] = decodeRune(data, i);
    if (r < 0) {
      out += `\\x${hex(data[i] as number, 2)}`;
    } else {
      out += escapeRune(r);
    }
    i += width;
  }
  return `${out}"`;
}

/**
 * Go's `%q` of a string. A JS string holds no invalid UTF-8, so only the rune escapes apply; a lone
 * surrogate (which no Go string can hold) prints as U+FFFD, as it would after a UTF-8 round trip.
 */
export function goQuoteString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const r = ch.codePointAt(0) as number;
    out += escapeRune(r >= 0xd800 && r <= 0xdfff ? 0xfffd : r);
  }
  return `${out}"`;
}

function escapeRune(r: number): string {
  if (r === 0x22) return '\\"';
  if (r === 0x5c) return "\\\\";
  const ch = String.fromCodePoint(r);
  if (r >= 0x20 && r < 0x7f) return ch;
  if (r > 0x7f && PRINTABLE.test(ch)) return ch;
  switch (r) {
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
  }
  if (r < 0x20 || r === 0x7f) return `\\x${hex(r, 2)}`;
  if (r < 0x10000) return `\\u${hex(r, 4)}`;
  return `\\U${hex(r, 8)}`;
}

function hex(v: number, width: number): string {
  let s = "";
  for (let shift = (width - 1) * 4; shift >= 0; shift -= 4) s += HEX[(v >>> shift) & 0xf];
  return s;
}

/**
 * Decodes the UTF-8 sequence at `data[i]` as Go's `utf8.DecodeRune` does: the rune and its width,
 * or `[-1, 1]` for an invalid byte (a bad lead byte, a truncated sequence, a bad continuation byte,
 * an overlong form, a surrogate or a value above U+10FFFF).
 */
function decodeRune(data: Uint8Array, i: number): [number, number] {
  const b0 = data[i] as number;
  if (b0 < 0x80) return [b0, 1];
  let width: number;
  let lo = 0x80;
  let hi = 0xbf;
  let r: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    width = 2;
    r = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    width = 3;
    r = b0 & 0x0f;
    if (b0 === 0xe0) lo = 0xa0; // overlong
    if (b0 === 0xed) hi = 0x9f; // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    width = 4;
    r = b0 & 0x07;
    if (b0 === 0xf0) lo = 0x90; // overlong
    if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
  } else {
    return [-1, 1];
  }
  if (i + width > data.length) return [-1, 1];
  for (let k = 1; k < width; k++) {
    const b = data[i + k] as number;
    const min = k === 1 ? lo : 0x80;
    const max = k === 1 ? hi : 0xbf;
    if (b < min || b > max) return [-1, 1];
    r = (r << 6) | (b & 0x3f);
  }
  return [r, width];
}
