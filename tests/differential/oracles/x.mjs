// X's rule: the official twitter-text 3.1.0 `parseTweet` with its default config (v3).
// Reads a JSON array of texts on stdin, writes a JSON array of results on stdout.
import { readFileSync } from 'node:fs';
import twitter from 'twitter-text';

const texts = JSON.parse(readFileSync(0, 'utf8'));
const results = texts.map((text) => {
  const parsed = twitter.parseTweet(text);
  const urls = twitter.extractUrlsWithIndices(text.normalize()).map((u) => u.url);
  return { weightedLength: parsed.weightedLength, valid: parsed.valid, urls };
});
process.stdout.write(JSON.stringify(results));
