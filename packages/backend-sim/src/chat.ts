// The shared life of one chat request: count it, validate, roll a fault, wait for a slot,
// emit tokens on the configured clock, and clean up when the client goes away.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Ticket } from './capacity.js';
import { GARBAGE_502 } from './faults.js';
import { type HttpReply, parseJson, readBody, send } from './http.js';
import { type ChatPlan, isReply, type Protocol } from './protocol.js';
import type { SimState } from './state.js';
import type { FaultKind, RecordedRequest } from './types.js';

const GARBAGE: HttpReply = { status: 502, contentType: 'text/html', body: GARBAGE_502 };

export function handleChat(
  proto: Protocol,
  state: SimState,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): void {
  const rec: RecordedRequest = { at: Date.now(), path, body: undefined };
  state.opened(rec);
  let ticket: Ticket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let unhold = () => {};
  let ended = false; // the sim chose how this request ends (reply, error, drop)
  let gone = false;

  res.once('close', () => {
    gone = true;
    state.closed();
    if (timer) clearTimeout(timer);
    unhold();
    ticket?.release();
    if (!ended) {
      ended = true;
      rec.aborted = true;
      state.count('aborted');
    }
  });

  const reply = (r: HttpReply, counter: 'rejected' | undefined) => {
    ended = true;
    rec.status = r.status;
    if (counter) state.count(counter);
    send(res, r);
  };

  readBody(req, (raw) => {
    if (gone) return;
    const parsed = parseJson(raw);
    rec.body = parsed.value;
    const plan = proto.parseChat(req.headers, parsed.value, parsed.error, state);
    if (isReply(plan)) return reply(plan, 'rejected');
    if (plan.truncatedByNumCtx) rec.truncatedByNumCtx = true;
    const w = proto.writer(plan, res, state);
    if (plan.loadOnly) {
      ended = true;
      rec.status = 200;
      w.finish();
      return;
    }

    const fault = state.drawFault();
    if (fault) {
      rec.fault = fault;
      state.count('errors');
      if (fault === 'error') return reply(proto.internalError(), undefined);
      if (fault === 'garbage') return reply(GARBAGE, undefined);
      if (fault === 'hang') return; // no slot: a black hole until the client closes
    }

    let granted = false;
    ticket = state.slots.acquire((t) => {
      ticket = t;
      granted = true;
      unhold = state.whenRunning(() => generate(plan, w, fault));
    }, plan.features?.n ?? 1);
    if (!ticket) return reply(proto.queueFull(), 'rejected');
    rec.reply = plan.pieces.join('');
    if (!granted && plan.stream && proto.headersBeforeSlot) {
      rec.status = 200;
      w.open();
    }
  });

  // stop() destroys every socket at once but 'close' events arrive later: a waiter granted the
  // slot in between must not write to a dead socket.
  function dead(): boolean {
    return gone || res.socket === null || res.socket.destroyed;
  }

  function generate(plan: ChatPlan, w: ReturnType<Protocol['writer']>, fault: FaultKind | undefined): void {
    const { ttftMs, tokenDelayMs } = state.timing;
    const n = plan.pieces.length;
    const cut = fault === 'drop' || fault === 'streamError' || fault === 'stall' ? Math.floor(n / 2) : -1;
    let i = 0;

    const complete = () => {
      ended = true;
      rec.status = 200;
      w.finish();
      state.count('completed');
      ticket?.release();
    };
    const injure = () => {
      if (fault === 'stall') return; // keep the socket, send nothing more
      ended = true;
      ticket?.release();
      if (fault === 'streamError') {
        if (plan.stream) {
          rec.status = 200;
          w.streamError();
        } else {
          reply(proto.internalError(), undefined);
        }
        return;
      }
      // drop: let what was written reach the client, then cut the connection mid-body.
      const socket = res.socket;
      if (!socket) return;
      if (plan.stream && i > 0) socket.end(() => socket.destroy());
      else socket.destroy();
    };
    const step = () => {
      timer = undefined;
      if (dead()) return;
      for (;;) {
        if (i === cut) return injure();
        if (i === n) return complete();
        if (plan.stream) w.piece(i);
        i++;
        if (tokenDelayMs > 0) {
          timer = setTimeout(step, tokenDelayMs);
          return;
        }
      }
    };

    if (plan.stream) {
      if (ttftMs > 0) timer = setTimeout(step, ttftMs);
      else step();
      return;
    }
    // Not streaming: the same total time, one timer.
    const tokens = cut >= 0 ? cut : n;
    const wait = ttftMs + tokenDelayMs * tokens;
    const end = () => {
      timer = undefined;
      if (dead()) return;
      i = tokens;
      if (cut >= 0) injure();
      else complete();
    };
    if (wait > 0) timer = setTimeout(end, wait);
    else end();
  }
}
