import { useEffect, useRef, useState } from 'preact/hooks';
import { initialReply, type ReplyState } from '../reply-state.js';
import { followReply } from '../reply-stream.js';
import { type PendingReply, pending } from '../store.js';
import type { ChatSession } from './types.js';

/**
 * The reply in flight: followed from its event stream, and saved after each event so that a reload picks it up
 * again (from the last event it holds) instead of losing it.
 */
export function useLiveReply(
  session: ChatSession,
  onEnded: (userText: string, reply: ReplyState, regenerate: boolean) => void,
) {
  const [live, setLive] = useState<PendingReply | null>(() => {
    const p = pending.get();
    return p && p.conversationId === session.conversationId && !p.reply.done ? p : null;
  });
  const liveRef = useRef(live);
  liveRef.current = live;
  const ended = useRef(onEnded);
  ended.current = onEnded;

  const jobId = live?.reply.jobId;
  useEffect(() => {
    const start = liveRef.current;
    if (!start || start.reply.done) return;
    const follow = followReply(start.reply, (reply) => {
      setLive((l) => (l && l.reply.jobId === reply.jobId ? { ...l, reply } : l));
      pending.set(reply.done ? null : { ...start, reply });
      if (reply.done) {
        ended.current(start.userText, reply, start.regenerate === true);
        setLive(null);
      }
    });
    return () => follow.close();
  }, [jobId]);

  return {
    live,
    /** The api took a message (or a regeneration: no message): follow its reply from the start. */
    start(conversationId: string, userText: string, jobId: string, regenerate = false) {
      const p: PendingReply = {
        conversationId,
        characterId: session.characterId,
        userText,
        reply: initialReply(jobId),
        ...(regenerate ? { regenerate } : {}),
      };
      pending.set(p);
      setLive(p);
    },
    /** The job in flight right now (read when an answer arrives, not when the hook ran). */
    jobId: () => liveRef.current?.reply.jobId,
  };
}
