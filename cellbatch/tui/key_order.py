"""Keys take effect in the order they were typed, however fast they come (a scanner's burst).

Why this is needed: Textual hands a key to the widget that has the focus *when the app reads
the key*, by posting it to that widget's message queue, and returns at once for the next key.
What Tab, Enter or a Ctrl-key does happens later, several queues away (the key bubbles from
the field to the screen and back to the app's bindings; Enter posts ``Input.Submitted``, whose
handler moves the focus through yet another queued call). When a terminal delivers
``tech1<Tab>demo-tech1<Enter>`` in one read, all of it is handed to the user field before the
Tab has moved the focus: ``tech1demo-tech1`` lands in one field and the Enter submits it.

The fix is here, not in each screen: the app keeps the keys it reads in a queue and hands
over the next one only when everything the previous one set off has run, that is, when the
queues of the app and of every widget on the screen are empty. Waiting is done by a barrier
(a callback queued on every one of them), the same technique Textual's Pilot uses between
keys in tests; nothing is timed. A key that starts a worker (Enter on a scanned batch code
loads the batch in a thread) has taken effect only when that worker is done and what it posted
has run, so the barrier also waits for the workers the key started. Mouse events and pastes
are not held back.

The barrier costs tens of milliseconds a key (every widget's queue must turn over), which held
a scanner to 15–20 keys a second on a busy machine. Most of a burst needs none of it: a letter
typed into a text field only goes into that field's queue, behind the letters before it, and
moves nothing. So a printable key for a focused ``Input`` (when no priority binding claims the
key) is handed over at once, and the barrier runs only before and after any other key (Tab,
Enter, a Ctrl- or F-key), which sees every letter before it applied. The order is the same;
only the waits that could not change it are skipped.
"""

from __future__ import annotations

import asyncio
from collections import deque

from textual import events
from textual.app import App
from textual.widgets import Input

MAX_ROUNDS = 12
"""Barrier rounds after one key at most (a key's effects cross a few queues; timers never stop)."""
ROUND_TIMEOUT = 2.0
"""Seconds one round may wait for a busy widget before the next key goes anyway."""
WORKER_TIMEOUT = 15.0
"""Seconds the next key waits for the workers a key started (a slow database, a large batch)."""


class KeysInOrder(App):
    """An app whose keys each take their full effect before the next key is delivered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._typed: deque[events.Key] = deque()
        self._typing: asyncio.Task[None] | None = None
        self._letters_since: set | None = None
        """Workers before the first letter handed over without a barrier (None: none pending)."""

    async def on_event(self, event: events.Event) -> None:
        """Queue a key read from the terminal; everything else as Textual does it."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._typed.append(event)
            if self._typing is None or self._typing.done():
                self._typing = asyncio.create_task(self._deliver_typed())
            return
        await super().on_event(event)

    async def _deliver_typed(self) -> None:
        while self._typed:
            event = self._typed.popleft()
            try:
                if self._goes_into_text_field(event):
                    if self._letters_since is None:
                        self._letters_since = set(self.workers)
                    await super().on_event(event)
                    if not self._typed:  # the burst ends with letters: let them take effect
                        await self._letters_done()
                    continue
                await self._letters_done()
                before = set(self.workers)
                await super().on_event(event)
                await self._settle()
                await self._finish_workers(before)
            except Exception as error:  # as Textual treats an error in a key's handling
                self._letters_since = None
                self._handle_exception(error)
                return

    def _goes_into_text_field(self, event: events.Key) -> bool:
        """Whether ``event`` only types a character into the focused text field.

        Such a key lands in that field's queue behind the keys before it and moves nothing
        (no focus, no screen), so the next letter needs no barrier. A priority binding on the
        key would act at once, ahead of the queued letters: such a key waits as any other.
        """
        if not event.is_printable or not isinstance(self.focused, Input):
            return False
        try:
            chain = self.screen._binding_chain
        except Exception:  # no screen: let the ordinary path decide
            return False
        return not any(
            binding.priority
            for _, bindings in chain
            for binding in bindings.key_to_bindings.get(event.key, ())
        )

    async def _letters_done(self) -> None:
        """Let the letters handed over without a barrier take effect (and what they started)."""
        if self._letters_since is None:
            return
        before, self._letters_since = self._letters_since, None
        await self._settle()
        await self._finish_workers(before)

    async def _settle(self) -> None:
        """Return once every queue a key can reach is empty (or after ``MAX_ROUNDS``)."""
        loop = asyncio.get_running_loop()
        for _ in range(MAX_ROUNDS):
            try:
                pumps = [self, *self.screen.walk_children(with_self=True)]
            except Exception:  # no screen yet, or the app is closing
                return
            waits = []
            for pump in pumps:
                done = loop.create_future()
                if pump.call_later(done.set_result, None):
                    waits.append(done)
            if waits:
                await asyncio.wait(waits, timeout=ROUND_TIMEOUT)
            if all(pump.message_queue_size == 0 for pump in pumps):
                return

    async def _finish_workers(self, before: set) -> None:
        """Wait for the workers started since ``before`` (and what they post), a few rounds."""
        for _ in range(MAX_ROUNDS):
            started = [w for w in self.workers if w not in before and not w.is_finished]
            if not started:
                return
            before |= set(started)
            await asyncio.wait(
                [asyncio.ensure_future(_finished(w)) for w in started], timeout=WORKER_TIMEOUT
            )
            await self._settle()

    def _stop_typing(self) -> None:
        """Drop keys not yet delivered (the app is closing)."""
        self._typed.clear()
        if self._typing is not None and not self._typing.done():
            self._typing.cancel()


async def _finished(worker) -> None:
    """Wait until ``worker`` ends, however it ends (its failure is the app's to report)."""
    try:
        await worker.wait()
    except Exception:  # noqa: BLE001 - failed or cancelled: either way it is done
        return
