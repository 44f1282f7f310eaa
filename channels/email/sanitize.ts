/*
 * HTML from customers' mail, made safe for agents' browsers. The output of sanitizeEmailHtml keeps text
 * formatting, lists, tables, links and images, and nothing that runs or reaches out on its own:
 *
 * - no script, style, iframe, object, embed, form controls, link, meta or base elements; no event handlers,
 *   ids, classes or names (they would reach into the console's own page);
 * - `style` attributes keep only a few text and spacing properties whose values cannot hold a URL;
 * - links are http(s), mailto or tel only, and open in a new tab with `rel="noopener noreferrer nofollow"`;
 * - an image's `src` is `cid:<contentId>` (an inline part, see rewriteInlineImages), or a small
 *   `data:image/png|jpeg|gif|webp;base64` URL. A remote (http or https) image would tell the sender when and
 *   where the mail was read, so its URL moves to `data-remote-src` and the image has no `src`: the console
 *   shows remote images only when an agent asks, by copying `data-remote-src` (always http or https) into
 *   `src`. Any other image source is dropped.
 */
import sanitizeHtml from 'sanitize-html';

/** Longest `data:` image URL kept in an `src` (characters). */
const maxDataImageLength = 256 * 1024;

const inlineImageData = /^data:image\/(?:png|jpeg|jpg|gif|webp);base64,[a-z0-9+/=\s]*$/i;
const linkSchemes = /^(?:https?|mailto|tel):/i;

const color = [/^#[0-9a-f]{3,8}$/i, /^rgba?\([\d\s.,%/]{1,40}\)$/i, /^[a-z]{3,24}$/i];
// Non-negative lengths only: a negative margin could move mail content over the console around it.
const lengths = [/^(?:(?:\d{1,4}(?:\.\d{1,3})?(?:px|pt|em|rem|%)?|auto)\s*){1,4}$/i];

const allowedStyles: Record<string, RegExp[]> = {
  color,
  'background-color': color,
  'text-align': [/^(?:left|right|center|justify|start|end)$/i],
  'vertical-align': [/^(?:top|middle|bottom|baseline)$/i],
  'font-weight': [/^(?:normal|bold|bolder|lighter|[1-9]00)$/i],
  'font-style': [/^(?:normal|italic|oblique)$/i],
  'text-decoration': [
    /^(?:none|underline|overline|line-through)(?:\s+(?:underline|overline|line-through))*$/i,
  ],
  'font-size': [
    /^\d{1,3}(?:\.\d{1,3})?(?:px|pt|em|rem|%)$/i,
    /^(?:xx-small|x-small|small|medium|large|x-large|xx-large|smaller|larger)$/i,
  ],
  'font-family': [/^[\w\s,'"-]{1,120}$/],
  'line-height': [/^\d{1,3}(?:\.\d{1,3})?(?:px|pt|em|rem|%)?$/i, /^normal$/i],
  'white-space': [/^(?:normal|nowrap|pre|pre-wrap|pre-line)$/i],
  margin: lengths,
  padding: lengths,
};

const tableCell = ['colspan', 'rowspan', 'valign', 'width', 'height', 'bgcolor', 'nowrap'];

const options: sanitizeHtml.IOptions = {
  allowedTags: [
    ...['p', 'br', 'div', 'span', 'hr', 'center', 'font'],
    ...['b', 'i', 'u', 's', 'strike', 'strong', 'em', 'small', 'big', 'sub', 'sup', 'mark', 'del', 'ins'],
    ...['abbr', 'cite', 'q', 'tt', 'kbd', 'samp', 'code', 'pre', 'blockquote'],
    ...['a', 'img', 'ul', 'ol', 'li', 'dl', 'dt', 'dd'],
    ...['table', 'thead', 'tbody', 'tfoot', 'tr', 'td', 'th', 'caption', 'colgroup', 'col'],
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'],
  ],
  allowedAttributes: {
    '*': ['style', 'dir', 'title', 'align'],
    a: ['href', 'rel', 'target'],
    img: ['src', 'data-remote-src', 'alt', 'width', 'height'],
    font: ['color', 'face', 'size'],
    table: ['border', 'cellpadding', 'cellspacing', 'width', 'bgcolor'],
    tr: ['valign', 'bgcolor'],
    td: tableCell,
    th: tableCell,
    col: ['span', 'width'],
    colgroup: ['span', 'width'],
    ol: ['start', 'type'],
    li: ['value'],
  },
  allowedStyles: { '*': allowedStyles },
  // The transforms below decide every URL; these lists are the second lock on the same doors.
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  allowedSchemesByTag: { img: ['http', 'https', 'cid', 'data'] },
  allowedSchemesAppliedToAttributes: ['href', 'src', 'data-remote-src'],
  allowProtocolRelative: false,
  // Elements whose text is not content either: it goes with them.
  nonTextTags: [
    'script',
    'style',
    'textarea',
    'option',
    'select',
    'noscript',
    'title',
    'template',
    'svg',
    'math',
  ],
  nestingLimit: 200,
  transformTags: { a: transformLink, img: transformImage },
  // An image left with no source at all is only an empty box.
  exclusiveFilter: (frame) => frame.tag === 'img' && !frame.attribs.src && !frame.attribs['data-remote-src'],
};

/** Sanitizes one message's HTML for display in the console; see the contract at the top of this file. */
export function sanitizeEmailHtml(html: string): string {
  return sanitizeHtml(html, options);
}

/**
 * A URL as a browser reads it: without the leading and trailing spaces and control characters, and without
 * the tabs and line breaks inside (WHATWG URL parsing), so that `java\tscript:` is seen as what it is.
 */
function normalizeUrl(url: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what browsers ignore here
  return url.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '');
}

function transformLink(tagName: string, attribs: sanitizeHtml.Attributes): sanitizeHtml.Tag {
  const { href, rel: _rel, target: _target, ...rest } = attribs;
  const url = href === undefined ? '' : normalizeUrl(href);
  if (!linkSchemes.test(url)) return { tagName, attribs: rest };
  return { tagName, attribs: { href: url, ...rest, rel: 'noopener noreferrer nofollow', target: '_blank' } };
}

function transformImage(tagName: string, attribs: sanitizeHtml.Attributes): sanitizeHtml.Tag {
  // A data-remote-src the sender wrote is dropped with src: only this function sets either.
  const { src, 'data-remote-src': _written, ...rest } = attribs;
  const url = src === undefined ? '' : normalizeUrl(src);
  if (/^https?:\/\//i.test(url)) return { tagName, attribs: { ...rest, 'data-remote-src': url } };
  if (/^cid:/i.test(url)) return { tagName, attribs: { ...rest, src: url } };
  if (url.length <= maxDataImageLength && inlineImageData.test(url)) {
    return { tagName, attribs: { ...rest, src: url.replace(/\s+/g, '') } };
  }
  return { tagName, attribs: rest };
}

const htmlEntities: Record<string, string> = { amp: '&', quot: '"', lt: '<', gt: '>', apos: "'", '#39': "'" };

function contentIdKey(id: string): string {
  return id
    .replace(/&(amp|quot|lt|gt|apos|#39);/g, (_entity, name: string) => htmlEntities[name] ?? '')
    .trim()
    .replace(/^<|>$/g, '')
    .trim()
    .toLowerCase();
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Points inline images at where their parts are served: every `src="cid:<id>"` in sanitized HTML whose id
 * (compared case-insensitively, angle brackets ignored) is a key of `urlByContentId` gets that URL; other
 * `cid:` sources stay as they are.
 */
export function rewriteInlineImages(html: string, urlByContentId: Map<string, string>): string {
  const urls = new Map([...urlByContentId].map(([id, url]) => [contentIdKey(id), url]));
  return html.replace(/(\ssrc=)"cid:([^"]*)"/gi, (written, attribute: string, id: string) => {
    const url = urls.get(contentIdKey(id));
    return url === undefined ? written : `${attribute}"${escapeAttribute(url)}"`;
  });
}
