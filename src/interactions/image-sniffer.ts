/*
 * What an uploaded file really is, from its first bytes (its "magic number"), never from the name or the
 * type its sender declared: a page renamed `photo.png` or an SVG (a document that can carry script) is not
 * an image here. Only the raster formats every browser shows inline are recognised.
 */

/** The image types the core can recognise, with the file extension each is served under. */
export const imageTypes = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
} as const;

export type ImageType = keyof typeof imageTypes;

export const isImageType = (value: string): value is ImageType => Object.hasOwn(imageTypes, value);

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

/** An image type's byte patterns, each at its offset. */
const signatures: { type: ImageType; parts: { at: number; bytes: number[] }[] }[] = [
  // PNG: the 8-byte signature, then the first chunk, which must be IHDR.
  {
    type: 'image/png',
    parts: [
      { at: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
      { at: 12, bytes: ascii('IHDR') },
    ],
  },
  // JPEG: start of image, then a marker.
  { type: 'image/jpeg', parts: [{ at: 0, bytes: [0xff, 0xd8, 0xff] }] },
  { type: 'image/gif', parts: [{ at: 0, bytes: ascii('GIF87a') }] },
  { type: 'image/gif', parts: [{ at: 0, bytes: ascii('GIF89a') }] },
  // WebP: a RIFF container (any length) of form WEBP whose first chunk is VP8, VP8L or VP8X.
  {
    type: 'image/webp',
    parts: [
      { at: 0, bytes: ascii('RIFF') },
      { at: 8, bytes: ascii('WEBPVP8') },
    ],
  },
];

/** The image type `content` starts like, or null when it is none of them (or too short to tell). */
export function sniffImageType(content: Uint8Array): ImageType | null {
  const matches = (part: { at: number; bytes: number[] }) =>
    content.length >= part.at + part.bytes.length &&
    part.bytes.every((byte, i) => content[part.at + i] === byte);
  return signatures.find((signature) => signature.parts.every(matches))?.type ?? null;
}
