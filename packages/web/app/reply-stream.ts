/**
 * Follows one chat job: its SSE stream (EventSource with credentials), resumed from the last event id the
 * page holds, plus light polling while the job waits in line (queue position, backend health) and as a
 * fallback when the stream cannot be opened.
 */
import { type ChatJobView, chatApi, type JobEvent } from './api.js';
import { applyEvent, applyPoll, type ReplyState, waiting } from './reply-state.js';

const EVENTS: readonly JobEvent['event'][] = ['status', 'token', 'reply', 'tts', 'error', 'done'];
const POLL_MS = 2_500;

export interface Follow {
  close(): void;
}

export function followReply(initial: ReplyState, onChange: (s: ReplyState) => void): Follow {
  let state = initial;
  let source: EventSource | null = null;
  let closed = false;
  let reopenTimer: ReturnType<typeof setTimeout> | undefined;

  const update = (next: ReplyState) => {
    if (next === state || closed) return;
    state = next;
    onChange(state);
    if (state.done) stop();
  };

  const open = () => {
    source?.close();
    const es = new EventSource(chatApi.eventsUrl(state.jobId, state.lastEventId), { withCredentials: true });
    source = es;
    for (const name of EVENTS) {
      es.addEventListener(name, (e: MessageEvent<string>) => {
        let event: JobEvent;
        try {
          event = { event: name, data: JSON.parse(e.data) } as JobEvent;
        } catch {
          return;
        }
        // An event sent without an id (the queue snapshot) inherits the previous id; it is not a repeat.
        const id =
          e.lastEventId && !(name === 'status' && e.lastEventId === state.lastEventId) ? e.lastEventId : null;
        update(applyEvent(state, event, id));
      });
    }
    es.onerror = () => {
      // CONNECTING: the browser reconnects by itself and sends Last-Event-ID. CLOSED: it gave up (an HTTP
      // error answer); ask the job itself what happened, then try the stream again.
      if (es.readyState !== EventSource.CLOSED || closed) return;
      void poll().then(() => {
        if (!closed) reopenTimer = setTimeout(open, 2_000);
      });
    };
  };

  const poll = async () => {
    try {
      const view = await chatApi.job(state.jobId);
      update(fromView(state, view));
    } catch {
      // Unknown or gone: the stream error stands; the next poll or reconnect may do better.
    }
  };

  const pollTimer = setInterval(() => {
    // Only while no text flows: the stream says everything else.
    if (waiting(state)) void poll();
  }, POLL_MS);

  function stop() {
    closed = true;
    source?.close();
    clearInterval(pollTimer);
    clearTimeout(reopenTimer);
  }

  open();
  return { close: stop };
}

/** Folds a polled job view in. A finished job whose speech is still coming is not yet `done`. */
function fromView(s: ReplyState, view: ChatJobView): ReplyState {
  if (view.status === 'queued' || view.status === 'running') return applyPoll(s, view);
  const speechComing = view.tts?.status === 'pending' || view.tts?.status === 'running';
  if (view.status === 'completed' && speechComing && view.tts?.mode !== 'on_click') return s;
  return {
    ...s,
    text: view.reply?.content ?? s.text,
    phase: view.status,
    tts: view.tts,
    error: view.error,
    done: true,
  };
}
