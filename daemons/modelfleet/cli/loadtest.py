"""``modelfleet loadtest``: Predict load like the RUNBOOK's search tier, with its killswitch."""

from __future__ import annotations

import json

import click

from .common import die
from .params import MODEL

__all__ = ["parse_inputs", "register"]


def parse_inputs(specs: tuple[str, ...]) -> dict[str, list[float]]:
    """``x=1,2,3`` → ``{"x": [1.0, 2.0, 3.0]}``."""
    inputs: dict[str, list[float]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{spec!r}: expected NAME=V1,V2,...", param_hint="--input")
        try:
            inputs[name] = [float(v) for v in values.split(",") if v]
        except ValueError:
            raise click.BadParameter(
                f"{spec!r}: values must be numbers", param_hint="--input"
            ) from None
    return inputs or {"x": [1.0, 2.0, 3.0]}


def register(cli: click.Group) -> None:
    @cli.command("loadtest")
    @click.option(
        "--target",
        "target",
        default="logginrec.mlmodels.icfsys.com:8500",
        show_default=True,
        help="DNS name (every A record is a node) or a comma-separated HOST:PORT list.",
    )
    @click.option("--model", type=MODEL, required=True, help="Model name to call.")
    @click.option("--input", "inputs", multiple=True, help="NAME=V1,V2,... (default x=1,2,3).")
    @click.option(
        "--rate",
        default=100.0,
        show_default=True,
        type=click.FloatRange(min=0.1),
        help="Calls per second (open loop).",
    )
    @click.option("--duration", default=30.0, show_default=True, type=click.FloatRange(min=0.1))
    @click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 4096))
    @click.option(
        "--timeout", default=1.0, show_default=True, type=float, help="Per-call deadline, seconds."
    )
    @click.option("--connect-timeout", default=0.6, show_default=True, type=float)
    @click.option(
        "--failure-ratio",
        default=0.25,
        show_default=True,
        type=float,
        help="Killswitch opens above this failure share of the window.",
    )
    @click.option("--window", default=10.0, show_default=True, type=float)
    @click.option("--open-seconds", default=60.0, show_default=True, type=float)
    @click.option(
        "--attempts",
        default=3,
        show_default=True,
        type=click.IntRange(1, 5),
        help="gRPC attempts per call: an UNAVAILABLE Predict is retried on another node.",
    )
    @click.option("--json", "as_json", is_flag=True)
    def loadtest(
        target: str,
        model: str,
        inputs: tuple[str, ...],
        rate: float,
        duration: float,
        concurrency: int,
        timeout: float,
        connect_timeout: float,
        failure_ratio: float,
        window: float,
        open_seconds: float,
        attempts: int,
        as_json: bool,
    ) -> None:
        """Send Predict calls at RATE for DURATION; print rate, success %, latency, trips.

        Exit 1 when fewer than 99 % of calls succeeded.
        """
        from ..loadgen import channel_spec, resolve_targets, run_load
        from ..loadgen.predictor import Predictor
        from ..names import InvalidName, validate_model_name
        from ..tfserving.channel import ChannelPolicy

        try:
            validate_model_name(model)
            targets = resolve_targets(target)
            predictor = Predictor(
                channel_spec(target),
                model=model,
                inputs=parse_inputs(inputs),
                timeout=timeout,
                failure_ratio=failure_ratio,
                window_seconds=window,
                open_seconds=open_seconds,
                policy=ChannelPolicy(connect_timeout=connect_timeout, retry_attempts=attempts),
            )
        except (InvalidName, ValueError, OSError) as exc:
            die(str(exc))
        try:
            result = run_load(
                predictor,
                rate=rate,
                duration=duration,
                concurrency=concurrency,
                trips=predictor.trips,
            )
        finally:
            predictor.close()
        data = result.to_dict()
        if as_json:
            click.echo(json.dumps(data, indent=2))
        else:
            lat = data["latency_ms"]
            rows = [
                ("targets", f"{predictor.target} ({', '.join(targets)})"),
                ("target rate", f"{rate:g}/s"),
                ("achieved rate", f"{data['achieved_rate']:g}/s"),
                ("calls", f"{data['sent']} sent, {data['dropped']} dropped"),
                ("success", f"{data['success_pct']:.2f} %"),
                ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(data["outcomes"].items()))),
                (
                    "latency ms",
                    f"p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}",
                ),
                ("killswitch trips", str(data["killswitch_trips"])),
            ]
            for key, value in rows:
                click.echo(f"{key:<17} {value}")
        raise SystemExit(0 if data["success_pct"] >= 99.0 else 1)
