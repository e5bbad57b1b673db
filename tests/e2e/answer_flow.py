"""The instant-answer path in the local flow: S3 -> EventBridge -> the real answer Lambda handler.

moto delivers a bucket's events to EventBridge once the bucket's notification configuration enables it
(the template's ``EventBridgeConfiguration``) and matches them against rules' patterns, but it cannot
invoke a Lambda target. So the stack's rule is created in moto with the template's name and pattern, and
its target, in the emulator only, is a probe SQS queue standing for "EventBridge invokes the function
asynchronously". A relay thread plays Lambda's asynchronous invoker: it receives each event the rule
matched, as soon as it is there, and calls ``lambdas.answer.handler.handler`` in-process with the event
in AWS's shape and the environment the template gives the function; a failed invocation is retried as
the template's ``EventInvokeConfig`` says (at once, not after Lambda's one and two minutes), then the
event goes to the answer dead-letter queue, as Lambda does.

What differs from AWS, and how it is handled: moto's event spells the object's ETag ``eTag`` (AWS:
``etag``) and does not URL-encode the key (the key is sent URL-encoded here, like S3's notifications;
the handler decodes it). The first event builds a fresh container (import and model, the cold start);
the import is done once per process. After the refit, :meth:`Relay.models_ttl_elapsed` stands for the
TTL passing before the next uploads (on AWS the refit's five EMR jobs take minutes).
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from tests.e2e.cdk_stack import StackSpec, TemplateResolver
from tests.e2e.sqs_lambda import FakeLambdaContext

HANDLER_MODULE = "lambdas.answer.handler"
PROBE_QUEUE = "answer-rule-target-probe"
#: Longest wait for the instant answers of a round of uploads (they take well under a second each).
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class AnswerSpec:
    """The answer function, its rule and its dead-letter queue, as the template defines them."""

    function_name: str
    function_arn: str
    environment: dict[str, str]
    memory_mb: int
    invoke_retries: int
    rule_name: str
    event_pattern: dict[str, Any]
    dead_letter_queue: str


def answer_spec(spec: StackSpec) -> AnswerSpec:
    """Read the answer function, rule and queue from the synthesized template."""
    template = json.loads(spec.template_path.read_text())
    resolver = TemplateResolver(template, account=spec.account, region=spec.region)
    names = spec.names
    logical, function = resolver.find("AWS::Lambda::Function", "FunctionName", names.answer_function)
    _, rule = resolver.find("AWS::Events::Rule", "Name", names.answer_rule)
    (invoke,) = [
        c
        for c in resolver.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["FunctionName"] == names.answer_function
    ]
    return AnswerSpec(
        function_name=names.answer_function,
        function_arn=resolver.get_att(logical, "Arn"),
        environment={k: str(v) for k, v in function["Environment"]["Variables"].items()},
        memory_mb=int(function["MemorySize"]),
        invoke_retries=int(invoke["MaximumRetryAttempts"]),
        rule_name=rule["Name"],
        event_pattern=rule["EventPattern"],
        dead_letter_queue=names.answer_dlq,
    )


def aws_shape(event: Mapping[str, Any]) -> dict[str, Any]:
    """moto's EventBridge event as S3 sends it (the ETag's spelling, the key URL-encoded)."""
    shaped = json.loads(json.dumps(event))
    obj = shaped["detail"]["object"]
    if "eTag" in obj:
        obj["etag"] = obj.pop("eTag")
    obj["key"] = quote_plus(obj["key"], safe="/")
    return shaped


@dataclass
class InstantAnswers:
    """What the instant path did in one flow."""

    uploaded_at: dict[str, float] = field(default_factory=dict)  # key -> when its PUT returned
    answered_at: dict[str, float] = field(default_factory=dict)  # key -> when the handler returned
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> the handler's summary
    failed: dict[str, str] = field(default_factory=dict)  # key -> last error (sent to the DLQ)
    #: Keys answered before the batch window closed (before the ingest Lambda ran).
    before_batch: set[str] = field(default_factory=set)
    cold_init_seconds: float | None = None
    imports_cached: bool = False
    events: int = 0

    def latencies_ms(self) -> list[float]:
        """Upload -> answer, per upload answered by the instant path (milliseconds)."""
        return [
            (self.answered_at[k] - self.uploaded_at[k]) * 1000.0
            for k in self.answered_at
            if k in self.uploaded_at
        ]

    def summary_lines(self) -> list[str]:
        """Lines for the flow's summary."""
        latencies = sorted(self.latencies_ms())
        written = sum(1 for r in self.results.values() if r.get("written"))
        lines = [
            f"instant        {len(self.results)} answered by the answer Lambda ({written} written first), "
            f"{len(self.failed)} to its DLQ, {self.events} events",
        ]
        lines.append(
            "  (uploads come in bursts and one emulated container answers them in turn: the later ones of a "
            "burst wait; AWS runs up to answer_max_concurrency containers at once)"
        )
        if latencies:
            p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
            lines.append(
                f"  upload -> answer  p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms "
                f"over {len(latencies)} uploads (the first one's includes the cold start)"
            )
        inside = {
            part: statistics.median(r[f"{part}_ms"] for r in self.results.values() if f"{part}_ms" in r)
            for part in ("read", "answer", "write")
            if any(f"{part}_ms" in r for r in self.results.values())
        }
        if inside:
            lines.append(
                "  in the function   median read {read:.0f} ms, decode + infer + heads {answer:.0f} ms, "
                "write {write:.0f} ms".format(**inside)
            )
        if self.cold_init_seconds is not None:
            cached = " (imports already loaded in this process)" if self.imports_cached else ""
            lines.append(f"  cold start        {self.cold_init_seconds:.2f} s{cached}")
        return lines


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation; one value: that value)."""
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


#: Held while an emulated Lambda runs with its environment set: the Lambdas of the flow share this
#: process's environment (their variables overlap, e.g. UPLOADS_PREFIX), and one's restore must not undo
#: another's settings (the answer Lambda's cold start runs in the relay's thread).
ENVIRON_LOCK = threading.RLock()


@contextmanager
def patched_environ(values: Mapping[str, str], remove: Sequence[str] = ()) -> Iterator[None]:
    """Set and remove environment variables; restore those afterwards (only those: another thread, such
    as the answer relay importing its handler, may set its own meanwhile)."""
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    for name in remove:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def environ_set(values: Mapping[str, str]) -> Iterator[None]:
    """:func:`patched_environ` under :data:`ENVIRON_LOCK` (two emulated Lambdas start in threads)."""
    with ENVIRON_LOCK, patched_environ(values):
        yield


class Relay:
    """EventBridge's rule target in the emulator: delivers each matched event to the real handler."""

    def __init__(self, clients: Any, spec: StackSpec, endpoint: str):
        import boto3

        self.spec, self.answer = spec, answer_spec(spec)
        self.sqs = clients.sqs
        self.events = boto3.client("events", region_name=spec.region, endpoint_url=endpoint)
        self.report = InstantAnswers()
        self._handler: Any = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self.probe_url = self.sqs.create_queue(QueueName=PROBE_QUEUE)["QueueUrl"]
        self.dlq_url = self.sqs.create_queue(QueueName=self.answer.dead_letter_queue)["QueueUrl"]
        probe_arn = self.sqs.get_queue_attributes(QueueUrl=self.probe_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.put_rule(Name=self.answer.rule_name, EventPattern=json.dumps(self.answer.event_pattern))
        self.events.put_targets(Rule=self.answer.rule_name, Targets=[{"Id": "probe", "Arn": probe_arn}])
        self._thread = threading.Thread(target=self._run, name="answer-relay", daemon=True)
        self._thread.start()

    # -- the flow's side ------------------------------------------------------------------------

    def uploaded(self, key: str) -> None:
        """Called right after an upload's PUT returned."""
        with self._changed:
            self.report.uploaded_at[key] = time.monotonic()

    def wait(self, keys: Sequence[str], timeout: float = WAIT_SECONDS) -> None:
        """Until every key is answered or dead-lettered (the batch window has not closed yet)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._done(keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [
                        k for k in keys if k not in self.report.results and k not in self.report.failed
                    ]
                    raise TimeoutError(f"no instant answer for {len(missing)} upload(s): {missing[:3]}")
                self._changed.wait(left)
            self.report.before_batch |= {k for k in keys if k in self.report.results}

    def models_ttl_elapsed(self) -> None:
        """The next answer reads LATEST again, as after the TTL (see the module's docstring)."""
        if self._handler is not None:
            self._handler.RUNTIME.heads.expire()

    def stop(self) -> InstantAnswers:
        """Stop the relay; its report."""
        self._stop.set()
        self._thread.join(timeout=30)
        return self.report

    def dead_letters(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _done(self, keys: Sequence[str]) -> bool:
        return all(k in self.report.results or k in self.report.failed for k in keys)

    # -- Lambda's asynchronous invoker ----------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set() and failures < 25:  # the emulator gone (a failed flow): stop
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.probe_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                failures = 0
            except Exception:
                failures += 1
                time.sleep(0.2)
                continue
            for message in messages:
                self._deliver(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.probe_url, ReceiptHandle=message["ReceiptHandle"])

    def _deliver(self, moto_event: dict[str, Any]) -> None:
        event, key = aws_shape(moto_event), moto_event["detail"]["object"]["key"]
        handler = self._container()
        error = ""
        for _attempt in range(1 + self.answer.invoke_retries):
            try:
                result = handler.handler(event, self._context())
            except Exception as exc:  # a function error: Lambda retries, then dead-letters the event
                error = f"{type(exc).__name__}: {exc}"
                continue
            with self._changed:
                self.report.events += 1
                self.report.results[key] = result
                self.report.answered_at[key] = time.monotonic()
                self._changed.notify_all()
            return
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(event))
        with self._changed:
            self.report.events += 1
            self.report.failed[key] = error
            self._changed.notify_all()

    def _container(self) -> Any:
        """The handler module with a fresh runtime for this flow, built on the first event (cold start)."""
        if self._handler is None:
            started = time.perf_counter()
            self.report.imports_cached = HANDLER_MODULE in sys.modules
            with environ_set(self.answer.environment):
                module = importlib.import_module(HANDLER_MODULE)
                if self.report.imports_cached:  # a new container: its own model and heads
                    module.RUNTIME = module.build_runtime(module.load_config())
            self.report.cold_init_seconds = time.perf_counter() - started
            self._handler = module
        return self._handler

    def _context(self) -> FakeLambdaContext:
        return FakeLambdaContext(
            function_name=self.answer.function_name,
            invoked_function_arn=self.answer.function_arn,
            memory_limit_in_mb=self.answer.memory_mb,
            log_group_name=f"/aws/lambda/{self.answer.function_name}",
        )


def problems(report: InstantAnswers | None, uploads: Sequence[str], answers: Mapping[str, Any]) -> list[str]:
    """What is wrong with the instant path of a flow (``uploads``: s3:// URIs; ``answers``: by key)."""
    if report is None:
        return []
    keys = [uri.split("/", 3)[3] for uri in uploads]
    found = [
        f"{k}: no instant answer before the batch window closed" for k in keys if k not in report.before_batch
    ]
    found += [f"{k}: the answer Lambda failed ({e}), left to the batch" for k, e in report.failed.items()]
    found += [
        f"{k}: the batch replaced the instant answer (batch_id {answers[k].get('batch_id')})"
        for k in keys
        if k in report.results and k in answers and answers[k].get("batch_id") is not None
    ]
    return found
