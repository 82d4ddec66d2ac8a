// Bluesky's rule: the official @atproto/api `RichText` (graphemes, UTF-8 bytes) and
// `detectFacetsWithoutResolution` (the detection `detectFacets` runs before it resolves handles).
// Reads a JSON array of texts on stdin, writes a JSON array of results on stdout.
import { readFileSync } from 'node:fs';
import { RichText } from '@atproto/api';

const VALUE = { 'app.bsky.richtext.facet#link': 'uri', 'app.bsky.richtext.facet#mention': 'did', 'app.bsky.richtext.facet#tag': 'tag' };

const texts = JSON.parse(readFileSync(0, 'utf8'));
const results = texts.map((text) => {
  const rt = new RichText({ text });
  rt.detectFacetsWithoutResolution();
  const facets = (rt.facets ?? []).flatMap((facet) =>
    facet.features.map((feature) => [feature.$type, facet.index.byteStart, facet.index.byteEnd, feature[VALUE[feature.$type]]]),
  );
  return { graphemes: rt.graphemeLength, bytes: rt.length, facets };
});
process.stdout.write(JSON.stringify(results));
