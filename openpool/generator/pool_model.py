"""The simulated pool: its partitions, its workers and machines, and the prices its customers pay.

Everything here is drawn once from the pool's seeded RNG, so a seed names one pool. Worker addresses are
keccak hashes of the seed and the worker's index: stable across runs, different across seeds, EIP-55 like
the emitter's `.String()`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from openpool.domain.events import NodeType, partition_key

REGIONS = ("us-central", "us-west", "eu-central", "oceania")


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One orchestrator process: its `POOL_REGION` and `POOL_NODE_TYPE`, and so one S3 prefix."""

    region: str
    node_type: str

    @property
    def prefix(self) -> str:
        return f"{self.region}/{self.node_type}/"

    @property
    def key(self) -> str:
        return partition_key(self.region, self.node_type)

    @property
    def is_ai(self) -> bool:
        return self.node_type == NodeType.AI

    def __str__(self) -> str:
        return f"{self.region}/{self.node_type}"

    @classmethod
    def parse(cls, text: str) -> Partition:
        """`region/node_type`, as in the S3 prefix."""
        region, _, node_type = text.strip().strip("/").partition("/")
        if not region or node_type not in tuple(NodeType):
            raise ValueError(f"{text!r} is not region/node_type with node_type one of {', '.join(NodeType)}")
        return cls(region, node_type)


ACTIVE_PARTITIONS = (
    Partition("us-central", NodeType.AI),
    Partition("us-central", NodeType.TRANSCODE),
    Partition("us-west", NodeType.TRANSCODE),
    Partition("eu-central", NodeType.TRANSCODE),
    Partition("oceania", NodeType.TRANSCODE),
)


@dataclass(frozen=True, slots=True)
class Rendition:
    name: str
    width: int
    height: int

    @property
    def pixels_per_frame(self) -> int:
        return self.width * self.height


_P240 = Rendition("240p", 426, 240)
_P360 = Rendition("360p", 640, 360)
_P480 = Rendition("480p", 854, 480)
_P720 = Rendition("720p", 1280, 720)
_P1080 = Rendition("1080p", 1920, 1080)

# Transcoding profiles broadcasters ask for, with how often; a segment's computeUnits sums all renditions.
LADDERS: tuple[tuple[tuple[Rendition, ...], float], ...] = (
    ((_P240, _P360, _P720), 0.45),
    ((_P360, _P720), 0.2),
    ((_P240, _P360, _P480, _P720), 0.15),
    ((_P240, _P360, _P720, _P1080), 0.1),
    ((_P360,), 0.1),
)
SEGMENT_MS = 2000
FRAMES_PER_SEGMENT = 60


class Pipeline(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    UPSCALE = "upscale"
    IMAGE_TO_VIDEO = "image-to-video"
    AUDIO_TO_TEXT = "audio-to-text"
    LLM = "llm"
    SEGMENT_ANYTHING_2 = "segment-anything-2"
    IMAGE_TO_TEXT = "image-to-text"
    TEXT_TO_SPEECH = "text-to-speech"


@dataclass(frozen=True, slots=True)
class AIModel:
    """A pipeline and model a worker serves, with the emitter's outPixels choices and a typical price."""

    pipeline: Pipeline
    model_id: str
    compute_units: tuple[int, ...]
    price_per_unit_wei: int
    median_response_ns: int
    popularity: float


def _audio_ms(*seconds: int) -> tuple[int, ...]:
    return tuple(s * 1000 for s in seconds)


def _speech_runes(*runes: int) -> tuple[int, ...]:
    return tuple(r * 1000 for r in runes)


AI_MODELS = (
    AIModel(
        Pipeline.TEXT_TO_IMAGE, "ByteDance/SDXL-Lightning", (262144, 1048576, 2097152), 4_768_371, 2_800_000_000, 0.35
    ),
    AIModel(
        Pipeline.LLM, "meta-llama/Meta-Llama-3.1-8B-Instruct", (128, 256, 512, 1024), 30_757_400, 900_000_000, 0.25
    ),
    AIModel(
        Pipeline.IMAGE_TO_IMAGE, "timbrooks/instruct-pix2pix", (262144, 589824, 1048576), 4_768_371, 3_500_000_000, 0.1
    ),
    AIModel(Pipeline.AUDIO_TO_TEXT, "openai/whisper-large-v3", _audio_ms(12, 45, 180, 600), 12_882, 3_000_000_000, 0.1),
    AIModel(
        Pipeline.UPSCALE, "stabilityai/stable-diffusion-x4-upscaler", (262144, 1048576), 4_768_371, 6_000_000_000, 0.05
    ),
    AIModel(
        Pipeline.IMAGE_TO_VIDEO,
        "stabilityai/stable-video-diffusion-img2vid-xt-1-1",
        (576 * 1024 * 25,),
        3_390,
        48_000_000_000,
        0.05,
    ),
    AIModel(Pipeline.SEGMENT_ANYTHING_2, "facebook/sam2-hiera-large", (1048576,), 4_768_371, 1_500_000_000, 0.04),
    AIModel(
        Pipeline.IMAGE_TO_TEXT, "Salesforce/blip-image-captioning-large", (262144, 589824), 4_768_371, 800_000_000, 0.03
    ),
    AIModel(
        Pipeline.TEXT_TO_SPEECH,
        "parler-tts/parler-tts-large-v1",
        _speech_runes(40, 160, 480),
        50_000,
        4_000_000_000,
        0.03,
    ),
)


@dataclass(frozen=True, slots=True)
class Price:
    """A price as the orchestrator holds it, a ratio of integers; the emitter truncates it to wei per unit.

    Transcode: the base price for a broadcaster (`big.Rat`). AI: the gateway's payment header,
    PricePerUnit / PixelsPerUnit, which truncates to 0 when a gateway pays less than one wei per unit.
    """

    per_unit: int
    units: int = 1

    @property
    def per_compute_unit(self) -> int:
        return self.per_unit // self.units


@dataclass(frozen=True, slots=True)
class Broadcaster:
    """Sends transcode jobs; the orchestrator charges it its base price, in wei per pixel."""

    name: str
    weight: float
    base_price: Price


@dataclass(frozen=True, slots=True)
class Gateway:
    """Sends AI jobs; its payment header sets the price per pipeline."""

    name: str
    weight: float
    prices: tuple[tuple[Pipeline, Price], ...]

    def price(self, pipeline: Pipeline) -> Price:
        return dict(self.prices)[pipeline]


@dataclass(frozen=True, slots=True)
class Worker:
    """One worker address; each of its machines holds one connection to the orchestrator."""

    index: int
    address: str
    partition: Partition
    hosts: tuple[str, ...]
    capacity: float
    speed: float
    """Multiplies the typical response time: below 1 is a fast worker."""
    models: tuple[AIModel, ...] = ()


@dataclass(frozen=True, slots=True)
class Pool:
    workers: tuple[Worker, ...]
    broadcasters: tuple[Broadcaster, ...]
    """Every transcode orchestrator of the pool charges the same broadcasters, each its own base price."""
    gateways: tuple[Gateway, ...]

    def workers_of(self, partition: Partition) -> tuple[Worker, ...]:
        return tuple(worker for worker in self.workers if worker.partition == partition)


def worker_address(seed: int, index: int) -> str:
    return to_checksum_address(keccak(text=f"openpool-generator/{seed}/worker/{index}")[-20:])


def job_shares(partitions: Sequence[Partition], ai_share: float) -> dict[Partition, float]:
    """Each partition's share of all jobs: `ai_share` split over the AI partitions, the rest over transcode."""
    ai = [p for p in partitions if p.is_ai]
    transcode = [p for p in partitions if not p.is_ai]
    if not ai or not transcode:
        return {p: 1 / len(partitions) for p in partitions}
    return {p: (ai_share / len(ai) if p.is_ai else (1 - ai_share) / len(transcode)) for p in partitions}


def build_pool(seed: int, partitions: Sequence[Partition], workers: int, ai_share: float) -> Pool:
    rng = random.Random(f"{seed}/pool")
    counts = _apportion(workers, job_shares(partitions, ai_share))
    built: list[Worker] = []
    for partition in partitions:
        for _ in range(counts[partition]):
            built.append(_worker(rng, seed, len(built), partition))
    return Pool(tuple(built), _broadcasters(rng), _gateways(rng))


def _apportion(total: int, shares: dict[Partition, float]) -> dict[Partition, int]:
    """At least one worker per partition, the rest by largest remainder of each partition's share of jobs."""
    if total < len(shares):
        raise ValueError(f"{total} workers cannot serve {len(shares)} partitions")
    spare = total - len(shares)
    exact = {p: spare * share for p, share in shares.items()}
    counts = {p: 1 + int(value) for p, value in exact.items()}
    by_remainder = sorted(shares, key=lambda p: (-(exact[p] - int(exact[p])), p))
    for partition in by_remainder[: total - sum(counts.values())]:
        counts[partition] += 1
    return counts


def _worker(rng: random.Random, seed: int, index: int, partition: Partition) -> Worker:
    machines = 2 if rng.random() < 0.1 else 1
    models: tuple[AIModel, ...] = ()
    if partition.is_ai:
        models = tuple(rng.sample(AI_MODELS, rng.randint(2, 4)))
    return Worker(
        index=index,
        address=worker_address(seed, index),
        partition=partition,
        hosts=tuple(_host(rng) for _ in range(machines)),
        capacity=rng.uniform(0.5, 2.0),
        speed=rng.uniform(0.6, 1.6),
        models=models,
    )


def _host(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return f"[2001:db8::{rng.randrange(1, 0xFFFF):x}]"
    network = rng.choice(("203.0.113", "198.51.100", "192.0.2"))
    return f"{network}.{rng.randint(1, 254)}"


def _broadcasters(rng: random.Random) -> tuple[Broadcaster, ...]:
    return tuple(
        Broadcaster(name=f"broadcaster-{n}", weight=rng.uniform(0.5, 3.0), base_price=Price(rng.randrange(500, 2001)))
        for n in range(5)
    )


def _gateways(rng: random.Random) -> tuple[Gateway, ...]:
    gateways = [
        Gateway(
            name=f"gateway-{n}",
            weight=rng.uniform(0.5, 3.0),
            prices=tuple((model.pipeline, _ai_price(rng, model)) for model in AI_MODELS),
        )
        for n in range(4)
    ]
    # Pays less than one wei per unit: the emitter truncates its price, and so its jobs' fees, to 0.
    sub_wei = Price(per_unit=rng.randrange(1, 1_000_000), units=1_000_000)
    gateways.append(Gateway("sub-wei-gateway", 0.15, tuple((model.pipeline, sub_wei) for model in AI_MODELS)))
    return tuple(gateways)


def _ai_price(rng: random.Random, model: AIModel) -> Price:
    units = rng.choice((1, 1_000, 1_000_000))
    return Price(per_unit=round(model.price_per_unit_wei * rng.uniform(0.8, 1.25) * units), units=units)
