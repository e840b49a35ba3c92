"""The print spooler: prints queued jobs from the local store, in order, one at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hardware.errors import PrinterError
from hardware.feed_client import report_time
from hardware.layouts import InvalidJob, layout_for_job
from hardware.printing import Printer
from hardware.state import StateStore, StoredPrintJob

logger = logging.getLogger(__name__)


@dataclass
class PrinterStatus:
    uri: str
    state: str = "idle"
    last_error: str | None = None
    last_error_at: float | None = None
    last_printed_at: float | None = None
    queued: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "uri": self.uri,
            "state": self.state,
            "last_error": self.last_error,
            "last_error_at": report_time(self.last_error_at),
            "last_printed_at": report_time(self.last_printed_at),
            "queued": self.queued,
        }


class Spooler:
    """Prints the oldest queued job until it is accepted, then the next one.

    A job that fails stays first in the queue and is sent again, whole, after a backoff
    (`retry_min_s` doubling up to `retry_max_s`). A job whose payload cannot be laid out is
    rejected and never retried.
    """

    def __init__(
        self,
        store: StateStore,
        printer: Printer,
        *,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        on_printed: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.printer = printer
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_printed = on_printed
        self.status = PrinterStatus(uri=printer.uri, queued=store.queued_print_jobs())
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Signal that a job was stored, ending an idle wait."""
        self._wakeup.set()

    async def run(self) -> None:
        logger.info("Spooler started: printer=%s queued=%s", self.printer.uri, self.status.queued)
        failures = 0
        while True:
            job = self.store.next_print_job()
            self.status.queued = self.store.queued_print_jobs()
            if job is None:
                await self._wait_for_job()
                continue

            if await self._print(job):
                failures = 0
                continue
            failures += 1
            # New jobs do not end the backoff, so a burst of receipts for a printer that is
            # off does not turn into a burst of connection attempts.
            await asyncio.sleep(min(self.retry_min_s * 2 ** (failures - 1), self.retry_max_s))

    async def _print(self, job: StoredPrintJob) -> bool:
        try:
            layout = layout_for_job(job.kind, job.payload)
        except InvalidJob as exc:
            logger.error(
                "Print job rejected: job_id=%s event_id=%s error=%s", job.id, job.event_id, exc
            )
            self.store.reject_print_job(job.id, str(exc))
            return True

        job_ref = f"job{job.print_job_id}" if job.print_job_id else f"event{job.event_id}"
        try:
            await self.printer.print_layout(layout, job_ref=job_ref)
        except Exception as exc:  # noqa: BLE001 - the job stays queued whatever went wrong
            logger.warning(
                "Print failed, job stays queued: job_id=%s print_job_id=%s attempt=%s error=%s",
                job.id, job.print_job_id, job.attempts + 1, exc,
                exc_info=not isinstance(exc, PrinterError),
            )  # fmt: skip
            self.store.record_print_failure(job.id, str(exc))
            self.status.state = "error"
            self.status.last_error = str(exc)
            self.status.last_error_at = time.time()
            return False

        self.store.mark_printed(job.id)
        self.status.state = "ok"
        self.status.last_printed_at = time.time()
        if self.on_printed is not None:
            self.on_printed()
        return True

    async def _wait_for_job(self) -> None:
        # No await runs between the empty store lookup and this clear, so a job stored after
        # the lookup sets the event again and ends the wait.
        self._wakeup.clear()
        await self._wakeup.wait()
