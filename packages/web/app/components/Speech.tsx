import { useEffect, useReducer, useRef, useState } from 'preact/hooks';
import { chatApi, type TtsInfo } from '../api.js';
import { ChunkPlayer } from '../chunk-player.js';
import { useT } from '../ui.js';

type SpeechState = 'idle' | 'waiting' | 'ready' | 'failed';

const POLL_MS = 500;
const GIVE_UP_MS = 90_000;

function stateOf(tts: TtsInfo | null): SpeechState {
  if (!tts) return 'idle';
  if (tts.status === 'completed') return 'ready';
  if (tts.status === 'failed') return 'failed';
  // `on_click` speech waits for the button; `skipped` was never asked for.
  if ((tts.status === 'pending' || tts.status === 'running') && tts.mode !== 'on_click') return 'waiting';
  return 'idle';
}

/** A `tts` event of one sentence chunk, sent while the reply is still being written. */
type ChunkTts = TtsInfo & { chunk?: number; attempt?: number };

/**
 * The speech of one reply. For `realtime` speech its sentence chunks play as they arrive, gapless, with
 * one button that stops it all; then (or for older replies) an `<audio>` element of the whole reply, a
 * notice while it is being made, or a play button that asks for it (`on_click`).
 */
export function Speech({ jobId, tts, autoplay }: { jobId: string; tts: TtsInfo | null; autoplay: boolean }) {
  const t = useT();
  const [state, setState] = useState<SpeechState>(() => stateOf(tts));
  const [play, setPlay] = useState(autoplay);
  const cancelled = useRef(false);
  const chunks = useChunks(jobId, tts as ChunkTts | null, autoplay);

  useEffect(() => {
    const next = stateOf(tts);
    if (next !== 'idle') setState(next);
  }, [tts?.status]);
  useEffect(
    () => () => {
      cancelled.current = true;
    },
    [],
  );

  const ask = async () => {
    setState('waiting');
    setPlay(true);
    try {
      await chatApi.speak(jobId);
      const deadline = Date.now() + GIVE_UP_MS;
      while (!cancelled.current && Date.now() < deadline) {
        const view = await chatApi.job(jobId);
        const s = stateOf(view.tts ? { ...view.tts, mode: 'realtime' } : null);
        if (s === 'ready' || s === 'failed') {
          setState(s);
          return;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      setState('failed');
    } catch {
      setState('failed');
    }
  };

  // Speech is switched off on this server: no button that could only fail.
  if (tts?.status === 'skipped' && tts.reason?.includes('TTS_ENGINE=none')) return null;
  if (chunks.speaking) {
    return (
      <p class="speech" role="status">
        <button type="button" class="small" onClick={chunks.stop}>
          <span aria-hidden="true">■ </span>
          {t('stopSpeech')}
        </button>
      </p>
    );
  }
  if (state === 'ready' && chunks.used) {
    // Heard already (or stopped): the whole reply stays at hand, without playing again by itself.
    return <Audio src={chatApi.audioUrl(jobId)} autoplay={false} label={t('speech')} />;
  }
  if (state === 'ready') {
    return <Audio src={chatApi.audioUrl(jobId)} autoplay={play} label={t('speech')} />;
  }
  if (state === 'waiting') {
    return (
      <p class="speech muted" role="status">
        {t('preparingSpeech')}
      </p>
    );
  }
  return (
    <p class="speech">
      {state === 'failed' && <span class="muted">{t('speechFailed')} </span>}
      <button type="button" class="small" onClick={() => void ask()}>
        <span aria-hidden="true">▶ </span>
        {state === 'failed' ? t('retry') : t('play')}
      </button>
    </p>
  );
}

function Audio({ src, autoplay, label }: { src: string; autoplay: boolean; label: string }) {
  const ref = useRef<HTMLAudioElement>(null);
  useEffect(() => {
    // play() instead of the autoplay attribute: a refusal (no user gesture yet) is caught, not logged.
    if (autoplay) ref.current?.play().catch(() => {});
  }, []);
  return (
    // biome-ignore lint/a11y/useMediaCaption: the reply's text, shown just above, is the transcript.
    <audio ref={ref} class="speech" controls preload="auto" src={src} aria-label={label} />
  );
}

/**
 * Realtime speech chunk by chunk: each announced chunk goes to the player at once; `speaking` holds from
 * the first chunk until the last one has played (or `stop`).
 */
function useChunks(jobId: string, tts: ChunkTts | null, autoplay: boolean) {
  const player = useRef<ChunkPlayer | null>(null);
  const stopped = useRef(false);
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const rerender = () => bump(0);
  const whole = tts?.chunk === undefined && (tts?.status === 'completed' || tts?.status === 'failed');

  useEffect(() => {
    if (!autoplay || stopped.current || tts?.chunk === undefined) return;
    if (!player.current) {
      const base = `${chatApi.audioUrl(jobId)}?chunk=`;
      player.current = new ChunkPlayer((n) => `${base}${n}`, { onStart: rerender, onIdle: rerender });
    }
    player.current.add(tts.attempt ?? 1, tts.chunk);
    rerender();
  }, [tts?.chunk, tts?.attempt]);
  useEffect(() => {
    if (whole && player.current && !stopped.current) player.current.drain();
    rerender();
  }, [whole]);
  useEffect(() => () => player.current?.close(), []);

  const p = player.current;
  return {
    used: p !== null,
    // Between sentences nothing may play while the next one is written: still speaking until the end.
    speaking: p !== null && !stopped.current && (p.active || !whole),
    stop: () => {
      stopped.current = true;
      player.current?.stop();
      rerender();
    },
  };
}
