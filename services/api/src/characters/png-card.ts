import { inflateSync } from 'node:zlib';
import { CHARACTER_LIMITS, GatewayError } from '@gateway/contracts';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Keywords of the text chunks that carry a card, best first: V3 writers keep `chara` for old readers. */
const CARD_KEYWORDS = ['ccv3', 'chara'] as const;
type CardKeyword = (typeof CARD_KEYWORDS)[number];
/** Longest text a card chunk may hold: base64 of the largest card JSON we take. */
export const MAX_CARD_TEXT = Math.ceil(CHARACTER_LIMITS.cardBytes / 3) * 4 + 4;

const invalid = (message: string) =>
  new GatewayError('invalid_input', message, { details: [{ field: 'body', message }] });
const tooLarge = (message: string) => new GatewayError('payload_too_large', message);

/**
 * The card JSON text inside a SillyTavern PNG card: a `tEXt`, `zTXt` or `iTXt` chunk named `ccv3` or
 * `chara` (`ccv3` preferred), holding base64 of the JSON (plain JSON is taken too). The work is linear in
 * the file: chunks are walked by their lengths, only card chunks are decoded, and inflating stops at
 * MAX_CARD_TEXT bytes (zlib's maxOutputLength), so a small compressed bomb costs no more than a card.
 */
export function cardTextFromPng(png: Buffer): string {
  if (png.length > CHARACTER_LIMITS.pngBytes) {
    throw tooLarge(`a PNG card may be at most ${CHARACTER_LIMITS.pngBytes} bytes`);
  }
  if (png.length < SIGNATURE.length || !png.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw invalid('the body is not a PNG file');
  }
  const found = new Map<CardKeyword, string>();
  let at = SIGNATURE.length;
  while (at + 12 <= png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const start = at + 8;
    const end = start + length;
    if (end + 4 > png.length) throw invalid(`the PNG is cut short inside its ${type} chunk`);
    if (type === 'IEND') break;
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      const chunk = readTextChunk(type, png.subarray(start, end));
      if (chunk && !found.has(chunk.keyword)) found.set(chunk.keyword, chunk.text());
      if (found.has('ccv3')) break;
    }
    at = end + 4; // the CRC: not checked, as image viewers tolerate a wrong one and so do card tools
  }
  for (const keyword of CARD_KEYWORDS) {
    const text = found.get(keyword);
    if (text !== undefined) return decodeCardText(text);
  }
  throw invalid('the PNG holds no character card (no tEXt, zTXt or iTXt chunk named ccv3 or chara)');
}

/** A card chunk's keyword and a reader of its text (decoded only when it is the card we use). */
function readTextChunk(
  type: 'tEXt' | 'zTXt' | 'iTXt',
  data: Buffer,
): { keyword: CardKeyword; text: () => string } | null {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) return null; // PNG keywords are 1-79 bytes
  const keyword = data.toString('latin1', 0, nul);
  if (!(CARD_KEYWORDS as readonly string[]).includes(keyword)) return null;
  const card = keyword as CardKeyword;
  if (type === 'tEXt') return { keyword: card, text: () => boundedText(data.subarray(nul + 1), 'latin1') };
  if (type === 'zTXt') {
    // keyword NUL, compression method (0 = zlib), compressed text
    return { keyword: card, text: () => inflateBounded(data.subarray(nul + 2)).toString('latin1') };
  }
  // iTXt: keyword NUL, compression flag, method, language tag NUL, translated keyword NUL, UTF-8 text
  const compressed = data[nul + 1] === 1;
  const langEnd = data.indexOf(0, nul + 3);
  const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
  if (transEnd < 0) return null;
  const body = data.subarray(transEnd + 1);
  return {
    keyword: card,
    text: () => (compressed ? inflateBounded(body).toString('utf8') : boundedText(body, 'utf8')),
  };
}

function boundedText(bytes: Buffer, encoding: 'latin1' | 'utf8'): string {
  if (bytes.length > MAX_CARD_TEXT) {
    throw tooLarge(`the card inside the PNG may be at most ${CHARACTER_LIMITS.cardBytes} bytes`);
  }
  return bytes.toString(encoding);
}

function inflateBounded(bytes: Buffer): Buffer {
  try {
    return inflateSync(bytes, { maxOutputLength: MAX_CARD_TEXT });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw tooLarge(`the card inside the PNG inflates to more than ${MAX_CARD_TEXT} bytes`);
    }
    throw invalid('a compressed card chunk in the PNG is not valid zlib data');
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** The chunk's text is base64 of the JSON (some tools write the JSON itself). */
function decodeCardText(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return trimmed;
  // Anchored, one character class, no nesting: linear time.
  const compact = trimmed.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw invalid('the card chunk is neither base64 nor JSON');
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** Parses the card JSON of a PNG; the caller validates its shape. */
export function cardFromPng(png: Buffer): unknown {
  const text = cardTextFromPng(png);
  if (Buffer.byteLength(text) > CHARACTER_LIMITS.cardBytes) {
    throw tooLarge(`the card inside the PNG may be at most ${CHARACTER_LIMITS.cardBytes} bytes`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid('the card inside the PNG is not valid JSON');
  }
}
