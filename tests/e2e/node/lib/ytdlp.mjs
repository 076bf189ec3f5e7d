// yt-dlp for the end-to-end tests, without YouTube: the tests cannot leave loopback, and
// yt-dlp's YouTube extractor talks to YouTube. yt-dlp's own plugin mechanism (extractor
// plugins in $XDG_CONFIG_HOME/yt-dlp/plugins, tried before the built-in extractors)
// replaces that one extractor with a stand-in that answers a YouTube watch URL with a
// media file on a local HTTP server. Everything else is the installed yt-dlp running as
// Herald runs it in production: Herald's argument vector, the download (yt-dlp's HTTP
// downloader), --max-filesize, the -o template, the progress lines.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from './media.mjs';

const PLUGIN = String.raw`# Herald's e2e stand-in for yt-dlp's YouTube extractor (tests/e2e/node/lib/ytdlp.mjs).
import json
import os
import sys

from yt_dlp.extractor.common import InfoExtractor

# Every run of yt-dlp loads this module first: its argument vector goes to the log.
with open(os.environ['HERALD_TEST_YTDLP_LOG'], 'a') as log:
    log.write(json.dumps(sys.argv[1:]) + '\n')


class HeraldTestYoutubeIE(InfoExtractor):
    IE_NAME = 'herald-test:youtube'
    _VALID_URL = r'https?://(?:www\.)?youtube\.com/watch\?v=(?P<id>[^&#]+)'

    def _real_extract(self, url):
        video_id = self._match_id(url)
        return {
            'id': video_id,
            'title': 'Herald test video ' + video_id,
            'url': os.environ['HERALD_TEST_YTDLP_MEDIA'] + '/' + video_id + '.mp4',
            'ext': 'mp4',
        }
`;

/**
 * Installs the stand-in in a fresh config folder. Returns {env (for the server: yt-dlp
 * inherits it), invocations() (the argument vector of every yt-dlp run so far)}.
 * `mediaBaseUrl`: where the stand-in sends yt-dlp for a video id (`<base>/<id>.mp4`).
 */
export function fakeYouTubeForYtDlp(mediaBaseUrl) {
  const dir = scratchDir('herald-ytdlp-');
  const pluginDir = path.join(dir, 'config', 'yt-dlp', 'plugins', 'herald_test', 'yt_dlp_plugins', 'extractor');
  mkdirSync(pluginDir, { recursive: true });
  writeFileSync(path.join(pluginDir, 'herald_test_youtube.py'), PLUGIN);
  const log = path.join(dir, 'invocations.jsonl');
  appendFileSync(log, '');
  return {
    env: {
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      XDG_CACHE_HOME: path.join(dir, 'cache'),
      HERALD_TEST_YTDLP_MEDIA: mediaBaseUrl,
      HERALD_TEST_YTDLP_LOG: log,
    },
    invocations: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []),
  };
}
