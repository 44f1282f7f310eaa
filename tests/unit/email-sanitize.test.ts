import { describe, expect, it } from 'vitest';
import { rewriteInlineImages, sanitizeEmailHtml } from '../../channels/email/sanitize.js';

/*
 * Customer HTML shown to agents: nothing that runs, nothing that loads by itself (remote images wait in
 * data-remote-src), formatting kept.
 */

describe('sanitizeEmailHtml', () => {
  it.each([
    ['a script element', '<p>a</p><script>alert(1)</script>', '<p>a</p>'],
    ['a style element', '<style>p{color:red}</style><p>a</p>', '<p>a</p>'],
    ['an event handler', '<p onclick="alert(1)" onmouseover="x()">a</p>', '<p>a</p>'],
    ['an iframe', '<iframe src="https://evil.example"></iframe><p>a</p>', '<p>a</p>'],
    ['object and embed', '<object data="x.swf"></object><embed src="x.swf"><p>a</p>', '<p>a</p>'],
    [
      'a form and its controls',
      '<form action="https://evil.example"><input name="q"><button>Go</button></form>',
      'Go',
    ],
    [
      'link, meta and base',
      '<link rel="stylesheet" href="x.css"><meta http-equiv="refresh" content="0;url=x"><base href="https://evil.example/"><p>a</p>',
      '<p>a</p>',
    ],
    ['the title and the head', '<html><head><title>T</title></head><body><p>a</p></body></html>', '<p>a</p>'],
    ['an SVG with a script', '<svg><script>alert(1)</script><text>t</text></svg><p>a</p>', '<p>a</p>'],
    ['ids, classes and names', '<div id="app" class="btn" name="x">a</div>', '<div>a</div>'],
    ['a comment', '<p>a<!-- <script>alert(1)</script> --></p>', '<p>a</p>'],
  ])('removes %s', (_name, html, expected) => {
    expect(sanitizeEmailHtml(html)).toBe(expected);
  });

  it('keeps formatting, lists, tables and headings', () => {
    const html =
      '<h1>T</h1><p>a <b>b</b> <i>i</i> <u>u</u> <strong>s</strong> <em>e</em><br>x</p><ul><li>1</li></ul>' +
      '<ol start="3"><li>3</li></ol><blockquote>q</blockquote><pre><code>c</code></pre><hr>' +
      '<table border="1" cellpadding="2"><tr><th>h</th><td colspan="2">d</td></tr></table>' +
      '<font color="#ff0000" face="Arial">f</font>';
    expect(sanitizeEmailHtml(html)).toBe(
      '<h1>T</h1><p>a <b>b</b> <i>i</i> <u>u</u> <strong>s</strong> <em>e</em><br />x</p><ul><li>1</li></ul>' +
        '<ol start="3"><li>3</li></ol><blockquote>q</blockquote><pre><code>c</code></pre><hr />' +
        '<table border="1" cellpadding="2"><tr><th>h</th><td colspan="2">d</td></tr></table>' +
        '<font color="#ff0000" face="Arial">f</font>',
    );
  });

  it('keeps only safe style properties', () => {
    const html =
      '<p style="color: red; font-weight: bold; background-image: url(https://t.example/x.png); position: fixed; ' +
      'margin: -500px; text-align: center; behavior: url(x.htc); width: expression(alert(1))">a</p>';
    expect(sanitizeEmailHtml(html)).toBe('<p style="color:red;font-weight:bold;text-align:center">a</p>');
  });

  it('opens links in a new tab, without a referrer, and drops the unsafe ones', () => {
    expect(
      sanitizeEmailHtml('<a href="https://example.com/a?b=1&c=2" target="_self" rel="opener">x</a>'),
    ).toBe(
      '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow" target="_blank">x</a>',
    );
    expect(sanitizeEmailHtml('<a href="mailto:a@example.com">m</a>')).toContain(
      'href="mailto:a@example.com"',
    );
    for (const href of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      ' java\tscript:alert(1)',
      'java&#x09;script:alert(1)',
      'vbscript:msgbox(1)',
      'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
      '/console/relative',
      '//evil.example/x',
    ]) {
      expect(sanitizeEmailHtml(`<a href="${href}">x</a>`), href).toBe('<a>x</a>');
    }
  });

  it('moves a remote image to data-remote-src', () => {
    expect(
      sanitizeEmailHtml('<img src="https://tracker.example/open.gif?u=1&amp;m=2" width="1" alt="">'),
    ).toBe('<img width="1" alt="" data-remote-src="https://tracker.example/open.gif?u=1&amp;m=2" />');
    expect(sanitizeEmailHtml('<img src=" http://example.com/a.png">')).toBe(
      '<img data-remote-src="http://example.com/a.png" />',
    );
  });

  it('keeps cid: and small data: images, drops every other image source', () => {
    expect(sanitizeEmailHtml('<img src="cid:logo@example.com" alt="logo">')).toBe(
      '<img alt="logo" src="cid:logo@example.com" />',
    );
    expect(sanitizeEmailHtml('<img src="data:image/png;base64,iVBORw0KGgo=">')).toBe(
      '<img src="data:image/png;base64,iVBORw0KGgo=" />',
    );
    const huge = `data:image/png;base64,${'A'.repeat(300 * 1024)}`;
    for (const src of [
      'javascript:alert(1)',
      'data:text/html;base64,PHNjcmlwdD4=',
      'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=',
      huge,
      '//evil.example/x.gif',
      '/relative.png',
    ]) {
      expect(sanitizeEmailHtml(`<p><img src="${src}" onerror="alert(1)">a</p>`), src.slice(0, 40)).toBe(
        '<p>a</p>',
      );
    }
  });

  it('does not let the sender write data-remote-src', () => {
    expect(sanitizeEmailHtml('<img data-remote-src="javascript:alert(1)" alt="x">')).toBe('');
  });
});

describe('rewriteInlineImages', () => {
  const html = sanitizeEmailHtml(
    '<p><img src="cid:Logo@Example.COM" alt="logo"><img src="cid:unknown@x"><img src="cid:&lt;b@x&gt;"></p>',
  );

  it('points known Content-IDs at their URLs, case-insensitively and without angle brackets', () => {
    const urls = new Map([
      ['<logo@example.com>', '/api/attachments/1?inline=1&x="y"'],
      ['B@X', '/api/attachments/2'],
    ]);
    expect(rewriteInlineImages(html, urls)).toBe(
      '<p><img alt="logo" src="/api/attachments/1?inline=1&amp;x=&quot;y&quot;" />' +
        '<img src="cid:unknown@x" /><img src="/api/attachments/2" /></p>',
    );
  });

  it('leaves the HTML as it is with no URLs', () => {
    expect(rewriteInlineImages(html, new Map())).toBe(html);
  });
});
