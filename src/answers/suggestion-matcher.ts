/*
 * Which standard answers fit a web chat visitor's first message, by the answers' keywords. Pure.
 *
 * A message and a keyword are cut into words (letters and digits, lower-cased, accents kept). A keyword
 * matches when its words appear in the message in a row. A keyword word matches a message word that equals
 * it, or, from four letters on, one that starts with it and runs at most three letters longer ("refund"
 * matches "refunds" and "refunded", "tv" matches only "tv"). An answer scores the number of words of its
 * matched keywords (a phrase says more than one word); the best few answers with a score go to the visitor,
 * best first, ties by title.
 */

export interface SuggestibleReply {
  id: string;
  title: string;
  keywords: string[];
}

export interface ReplyMatch<R extends SuggestibleReply> {
  reply: R;
  score: number;
  /** The keywords that matched, as written on the reply. */
  matched: string[];
}

export const wordsOf = (text: string): string[] =>
  text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);

function wordMatches(keywordWord: string, messageWord: string): boolean {
  if (keywordWord === messageWord) return true;
  return (
    keywordWord.length >= 4 &&
    messageWord.startsWith(keywordWord) &&
    messageWord.length - keywordWord.length <= 3
  );
}

function containsPhrase(message: string[], phrase: string[]): boolean {
  if (phrase.length === 0 || phrase.length > message.length) return false;
  for (let start = 0; start + phrase.length <= message.length; start += 1) {
    if (phrase.every((word, i) => wordMatches(word, message[start + i]!))) return true;
  }
  return false;
}

export function matchReplies<R extends SuggestibleReply>(
  message: string,
  replies: readonly R[],
  limit = 3,
): ReplyMatch<R>[] {
  const words = wordsOf(message);
  if (words.length === 0) return [];
  const matches: ReplyMatch<R>[] = [];
  for (const reply of replies) {
    let score = 0;
    const matched: string[] = [];
    for (const keyword of reply.keywords) {
      const phrase = wordsOf(keyword);
      if (containsPhrase(words, phrase)) {
        score += phrase.length;
        matched.push(keyword);
      }
    }
    if (score > 0) matches.push({ reply, score, matched });
  }
  return matches
    .sort((a, b) => b.score - a.score || a.reply.title.localeCompare(b.reply.title))
    .slice(0, limit);
}
