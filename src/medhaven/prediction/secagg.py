"""Secure aggregation (SecAgg+, Bell et al. 2020) for the ``newton`` and ``fedavg`` rounds.

With ``secure_aggregation: true`` in a ``train`` job, each aggregation round
becomes four round trips of the same :data:`~.node_training.Exchange` (so it
runs the same in process and over Flower):

1. ``sa_keys``: every node makes two fresh key pairs (ECDH on P-384: one for
   the pairwise masks, one for encrypting shares) and a 32-byte self-mask
   seed ``b``, keeps the private parts in its work dir and answers the two
   public keys;
2. ``sa_shares``: the server relays everyone's public keys and a threshold
   ``t``; each node splits ``b`` and its mask private key into Shamir shares
   (``t`` of them rebuild the secret) and answers one share pair per peer,
   encrypted to that peer (Fernet under an ECDH-derived key): the server
   relays ciphertexts it cannot read;
3. the round itself (``newton``/``fedavg``): each node receives the shares
   addressed to it, computes its vector, rounds it to fixed point (step
   ``2**-FRACTION_BITS``, unbiased stochastic rounding) in the ring of
   integers modulo ``2**64`` and adds its self mask and, for every peer, a
   pairwise mask (``+`` towards higher indices, ``-`` towards lower ones)
   that the two nodes derive from their ECDH secret; it answers only the
   masked vector;
4. ``sa_unmask``: the server names the survivors (nodes whose masked vector
   arrived) and the dropped ones; each node answers its shares of the
   survivors' ``b`` and of the dropped nodes' mask keys, never both for one
   node. With at least ``t`` answers the server removes the masks: what it
   learns is the sum of the survivors' vectors.

The masks come from AES-256 in counter mode keyed by HKDF (a cryptographic
PRG); the key agreement, share encryption and Shamir sharing are Flower's
(:mod:`flwr.common.secure_aggregation.crypto`, :mod:`flwr.supercore.primitives.asymmetric`).
Flower's own ``pseudo_rand_gen`` (a numpy generator seeded with 32 bits) and
``quantize`` (int32, clipping range to be agreed in advance) are not used.
Every node is every other node's neighbour (SecAgg+ with a complete graph,
which is SecAgg): federations here have a handful of hospitals.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import pickle
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flwr.common.secure_aggregation.crypto.shamir import combine_shares, create_shares
from flwr.common.secure_aggregation.crypto.symmetric_encryption import (
    decrypt,
    encrypt,
    generate_shared_key,
)
from flwr.common.secure_aggregation.secaggplus_utils import (
    share_keys_plaintext_concat,
    share_keys_plaintext_separate,
)
from flwr.supercore.primitives.asymmetric import (
    bytes_to_private_key,
    bytes_to_public_key,
    generate_key_pairs,
    private_key_to_bytes,
    public_key_to_bytes,
)

from medhaven.errors import InvalidInput

if TYPE_CHECKING:
    from medhaven.federation.node import NodeConfig
    from medhaven.prediction.node_training import Exchange, RoundReply

Array = npt.NDArray[Any]
Arrays = dict[str, Array]

#: fixed-point step ``2**-FRACTION_BITS`` (about 6e-8)
FRACTION_BITS = 24
#: ``|sum| * 2**FRACTION_BITS`` stays below ``2**RANGE_BITS`` (< 2**63: no wrap in the ring)
RANGE_BITS = 62
SECURE_STAGES = ("sa_keys", "sa_shares", "sa_unmask")
STATE_VERSION = 1


class SecAggRefused(Exception):
    """The node will not go on with this secure round (one-line public reason)."""


# ------------------------------------------------------------ fixed point and masks


def step() -> float:
    """The fixed-point step: every node's rounding error per value is below it."""
    return float(2.0**-FRACTION_BITS)


def value_bound(nodes: int) -> float:
    """The largest absolute value a node may contribute when ``nodes`` take part.

    Below ``2**29`` a scaled value is an exact float (so the rounding error
    stays below a step), and ``nodes`` of them sum without wrapping the ring.
    """
    return min(float(2.0 ** (RANGE_BITS - FRACTION_BITS)) / max(int(nodes), 1), float(2.0**29))


def error_bound(nodes: int) -> float:
    """The largest absolute error of one summed value: ``nodes`` rounding errors below a step."""
    return max(int(nodes), 1) * step()


def newton_noise(hessian: Array, beta: Array, l2: float, nodes: int) -> float:
    """How far rounding can move a Newton step's coefficients (the largest change of any).

    The summed gradient is off by less than ``e = error_bound(nodes)`` per
    value, so near the fit (where the step ``s`` is small and the Hessian's
    own error ``δH·s`` is negligible) the step moves by at most
    ``√d·e / λ_min(H)`` (``H`` penalised, ``d`` coefficients); twice that is
    returned. A secure Newton training has converged once its steps are
    below this (or ``tol``): smaller steps are the rounding's noise.
    """
    d = int(beta.size)
    penalty = np.full(d, float(l2))
    penalty[0] = 0.0
    h = np.asarray(hessian, dtype=np.float64) + np.diag(penalty)
    low = float(np.linalg.eigvalsh(0.5 * (h + h.T)).min())
    if low <= 0:  # not positive definite: no floor (Newton's own solve reports it)
        return 0.0
    return 2.0 * math.sqrt(d) * error_bound(nodes) / low


def quantize(values: Array, nodes: int, rng: np.random.Generator) -> Array:
    """Float values to the ring (uint64), rounded stochastically (unbiased); refuses big values."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise InvalidInput("secure aggregation: a value to sum is not finite")
    bound = value_bound(nodes)
    if x.size and float(np.max(np.abs(x))) > bound:
        raise InvalidInput(
            f"secure aggregation: a value exceeds the fixed-point range (|x| > {bound:.3g} "
            f"with {nodes} nodes)"
        )
    scaled = x * float(2**FRACTION_BITS)
    low = np.floor(scaled)
    q = low + (rng.random(x.size) < (scaled - low))
    return q.astype(np.int64).view(np.uint64)


def dequantize(ring: Array) -> Array:
    """A (summed) ring vector back to floats (two's complement: values may be negative)."""
    return np.asarray(ring, dtype=np.uint64).view(np.int64).astype(np.float64) * step()


def prg(seed: bytes, label: str, size: int) -> Array:
    """``size`` pseudo-random ring elements from ``seed``: AES-256-CTR keyed by HKDF(seed, label)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"medhaven secagg mask|" + label.encode("utf-8")).derive(seed)  # fmt: skip
    enc = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
    stream = enc.update(b"\0" * (8 * size)) + enc.finalize()
    return np.frombuffer(stream, dtype="<u8").astype(np.uint64)


def _pair_seed(private_pem: bytes, public_pem: bytes) -> bytes:
    return generate_shared_key(bytes_to_private_key(private_pem), bytes_to_public_key(public_pem))


def threshold_for(nodes: int) -> int:
    """The default Shamir threshold: a strict majority, at least 2."""
    return max(2, nodes // 2 + 1)


def _digest(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise SecAggRefused(f"{what} is not base64") from None


# ------------------------------------------------------------ node side


def state_path(config: NodeConfig, job_id: str) -> Path:
    """Where a node keeps its secrets of the current secure round (its own work dir)."""
    from medhaven.prediction.node_training import cache_path

    base = cache_path(config, job_id)
    return base.with_name(base.stem + ".secagg.pkl")


def _save(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        pickle.dump({**doc, "version": STATE_VERSION}, fh)
    os.replace(tmp, path)


def _load(path: Path, round_id: str) -> dict[str, Any]:
    if not path.is_file():
        raise SecAggRefused(f"no secure round {round_id[:40]!r} open at this node")
    with path.open("rb") as fh:
        doc: dict[str, Any] = pickle.load(fh)  # noqa: S301 - the node's own file
    if doc.get("version") != STATE_VERSION or doc.get("round") != round_id:
        raise SecAggRefused(f"no secure round {round_id[:40]!r} open at this node")
    return doc


def node_keys(
    config: NodeConfig, job_id: str, meta: dict[str, Any]
) -> tuple[Arrays, dict[str, Any]]:
    """``sa_keys``: fresh key pairs and self-mask seed; answer the public keys."""
    round_id = str(meta.get("round", ""))
    if not round_id:
        raise SecAggRefused("sa_keys: no round id")
    path = state_path(config, job_id)
    try:  # a resent request (a retrying server, a restarted node): the same public keys
        old = _load(path, round_id)
        if "pk1" in old:
            return {}, {"pk1": old["pk1"].decode("ascii"), "pk2": old["pk2"].decode("ascii")}
    except SecAggRefused:
        pass
    sk1, pk1 = generate_key_pairs()
    sk2, pk2 = generate_key_pairs()
    doc: dict[str, Any] = {"round": round_id, "stage": "keys", "sk1": private_key_to_bytes(sk1),
           "sk2": private_key_to_bytes(sk2), "pk1": public_key_to_bytes(pk1),
           "pk2": public_key_to_bytes(pk2), "b": secrets.token_bytes(32)}  # fmt: skip
    _save(path, doc)
    return {}, {"pk1": doc["pk1"].decode("ascii"), "pk2": doc["pk2"].decode("ascii")}


def node_shares(config: NodeConfig, job_id: str, me: str,
                meta: dict[str, Any]) -> tuple[Arrays, dict[str, Any]]:  # fmt: skip
    """``sa_shares``: check the relayed keys, answer each peer's encrypted share pair."""
    path = state_path(config, job_id)
    doc = _load(path, str(meta.get("round", "")))
    asked = _digest(meta)
    if doc["stage"] != "keys":  # a resend gets the same answer; a changed request none
        if doc.get("shares_asked") == asked:
            return {}, dict(doc["shares_reply"])
        raise SecAggRefused("sa_shares: this round's shares were already made for other peers")
    peers = meta.get("peers")
    if not isinstance(peers, dict) or me not in peers:
        raise SecAggRefused("sa_shares: the peer list does not name this node")
    t = int(meta.get("threshold", 0))
    if len(peers) < 2 or not threshold_for(len(peers)) <= t <= len(peers):
        raise SecAggRefused(
            f"sa_shares: threshold {t} for {len(peers)} nodes (need a strict majority, at least 2)"
        )
    own = peers[me]
    if own.get("pk1") != doc["pk1"].decode("ascii") or own.get("pk2") != doc["pk2"].decode("ascii"):
        raise SecAggRefused("sa_shares: the relayed keys of this node are not its own")
    index = {str(n): int(v["index"]) for n, v in peers.items()}
    if sorted(index.values()) != list(range(1, len(peers) + 1)):
        raise SecAggRefused("sa_shares: the peer indices are not 1..n")
    order = sorted(peers, key=lambda n: index[str(n)])
    b_shares = create_shares(doc["b"], t, len(peers))
    sk_shares = create_shares(doc["sk1"], t, len(peers))
    out: dict[str, str] = {}
    for pos, peer in enumerate(order):
        plain = share_keys_plaintext_concat(index[me], index[peer], b_shares[pos], sk_shares[pos])
        if peer == me:
            own_share = plain
            continue
        key = _pair_seed(doc["sk2"], str(peers[peer]["pk2"]).encode("ascii"))
        out[peer] = _b64(encrypt(key, plain))
    pubs = {str(n): (str(v["pk1"]), str(v["pk2"])) for n, v in peers.items()}
    reply = {"ciphertexts": out}
    _save(path, {**doc, "stage": "shares", "index": index, "threshold": t, "pubs": pubs,
                 "held": {me: own_share}, "shares_asked": asked,
                 "shares_reply": reply})  # fmt: skip
    return {}, reply


def node_mask(config: NodeConfig, job_id: str, me: str, meta: dict[str, Any],
              arrays: Arrays, weighted: bool) -> tuple[Arrays, dict[str, Any]]:  # fmt: skip
    """The masked vector in place of the plain reply ``arrays`` of a ``newton``/``fedavg`` round.

    ``weighted``: every array but ``n`` is multiplied by ``n`` first (FedAvg's weighted sum).
    """
    sa = meta.get("secagg")
    if not isinstance(sa, dict):
        raise SecAggRefused("this job requires secure aggregation: no secure round was opened")
    path = state_path(config, job_id)
    doc = _load(path, str(sa.get("round", "")))
    asked = _digest({"secagg": sa, "vector": {k: np.asarray(v).tolist() for k, v in arrays.items()},
                     "weighted": weighted})  # fmt: skip
    if doc["stage"] != "shares":  # the same vector again: the same masked reply, never a new one
        if doc.get("mask_asked") == asked and "mask_reply" in doc:
            masked, out = doc["mask_reply"]
            return {"masked": np.array(masked, dtype=np.uint64)}, dict(out)
        raise SecAggRefused(
            "this secure round's vector was already sent (a second vector under the same masks "
            "would reveal the difference)"
        )
    index: dict[str, int] = doc["index"]
    held = dict(doc["held"])
    ciphertexts = sa.get("ciphertexts")
    if not isinstance(ciphertexts, dict):
        raise SecAggRefused("no shares were relayed")
    for src, text in ciphertexts.items():
        src = str(src)
        if src not in index or src == me:
            raise SecAggRefused("a relayed share comes from a node outside this round")
        key = _pair_seed(doc["sk2"], doc["pubs"][src][1].encode("ascii"))
        try:
            plain = decrypt(key, _unb64(text, "a relayed share"))
        except InvalidToken:
            raise SecAggRefused(f"the share relayed from {src} does not decrypt") from None
        i, j, _b, _sk = share_keys_plaintext_separate(plain)
        if i != index[src] or j != index[me]:
            raise SecAggRefused(f"the share relayed from {src} is not addressed to this node")
        held[src] = plain
    if len(held) < int(doc["threshold"]):
        raise SecAggRefused(
            f"only {len(held)} nodes shared keys; the threshold is {doc['threshold']}"
        )
    n = float(np.asarray(arrays["n"]).ravel()[0])
    layout: list[list[Any]] = []
    parts: list[Array] = []
    for name in sorted(arrays):
        a = np.asarray(arrays[name], dtype=np.float64)
        layout.append([name, list(a.shape)])
        parts.append((a * n if weighted and name != "n" else a).ravel())
    vector = np.concatenate(parts) if parts else np.zeros(0)
    ring = quantize(vector, len(index), np.random.default_rng())
    label = str(doc["round"])
    ring = ring + prg(doc["b"], label, ring.size)
    for peer in held:  # the peers that shared keys (the server relayed their shares)
        if peer == me:
            continue
        mask = prg(_pair_seed(doc["sk1"], doc["pubs"][peer][0].encode("ascii")), label, ring.size)
        ring = ring + mask if index[me] < index[peer] else ring - mask
    out = {"layout": layout, "weighted": weighted}
    _save(path, {**doc, "stage": "masked", "held": held, "mask_asked": asked,
                 "mask_reply": (ring, out)})  # fmt: skip
    return {"masked": ring}, out


def node_unmask(config: NodeConfig, job_id: str, me: str,
                meta: dict[str, Any]) -> tuple[Arrays, dict[str, Any]]:  # fmt: skip
    """``sa_unmask``: shares of the survivors' self-mask seeds and of the dropped nodes' mask keys."""
    path = state_path(config, job_id)
    doc = _load(path, str(meta.get("round", "")))
    asked = _digest(meta)
    if doc["stage"] == "unmasked":  # a resend: the same shares again; other sets: none
        if doc.get("unmask_asked") == asked:
            return {}, dict(doc["unmask_reply"])
        raise SecAggRefused("sa_unmask: this round was already unmasked for other survivors")
    if doc["stage"] != "masked":
        raise SecAggRefused("sa_unmask: this node sent no masked vector in this round")
    survivors = [str(s) for s in meta.get("survivors", [])]
    dropped = [str(d) for d in meta.get("dropped", [])]
    held: dict[str, bytes] = doc["held"]
    if set(survivors) & set(dropped) or len(set(survivors)) != len(survivors):
        raise SecAggRefused("sa_unmask: a node is named both survivor and dropped")
    if me not in survivors or not set(survivors) | set(dropped) <= set(held):
        raise SecAggRefused("sa_unmask: the survivors and dropped nodes do not match this round")
    if set(survivors) | set(dropped) != set(held):
        raise SecAggRefused("sa_unmask: a node that shared keys is neither survivor nor dropped")
    if len(survivors) < max(2, int(doc["threshold"])):
        raise SecAggRefused(f"sa_unmask: {len(survivors)} survivors, below the threshold")
    b_out, sk_out = {}, {}
    for v in survivors:
        _i, _j, b_share, _sk = share_keys_plaintext_separate(held[v])
        b_out[v] = _b64(b_share)
    for d in dropped:
        _i, _j, _b, sk_share = share_keys_plaintext_separate(held[d])
        sk_out[d] = _b64(sk_share)
    reply = {"b_shares": b_out, "sk_shares": sk_out}
    # one unmask per round: the keys, seed and held shares go now; only the answer stays
    _save(path, {"round": doc["round"], "stage": "unmasked", "unmask_asked": asked,
                 "unmask_reply": reply})  # fmt: skip
    return {}, reply


def node_stage(config: NodeConfig, job_id: str, stage: str, meta: dict[str, Any]) -> RoundReply:
    """One of the ``sa_*`` stages at the node (the job's signature is already checked)."""
    from medhaven.prediction.node_training import RoundRefused, RoundReply

    try:
        if stage == "sa_keys":
            arrays, out = node_keys(config, job_id, meta)
        elif stage == "sa_shares":
            arrays, out = node_shares(config, job_id, config.name, meta)
        else:
            arrays, out = node_unmask(config, job_id, config.name, meta)
    except SecAggRefused as exc:
        raise RoundRefused(str(exc)) from None
    return RoundReply("ok", arrays=arrays, meta=out)


def mask_reply(config: NodeConfig, job_id: str, stage: str, reply: RoundReply,
               meta: dict[str, Any]) -> RoundReply:  # fmt: skip
    """The plain reply of a ``newton``/``fedavg`` round replaced by its masked vector."""
    from medhaven.prediction.node_training import RoundRefused, RoundReply

    try:
        arrays, out = node_mask(config, job_id, config.name, meta, reply.arrays,
                                weighted=stage == "fedavg")  # fmt: skip
    except SecAggRefused as exc:
        raise RoundRefused(str(exc)) from None
    return RoundReply(reply.status, reply.reason, arrays, {**reply.meta, **out})


# ------------------------------------------------------------ server side


@dataclass
class SecureSum:
    """A secure round's outcome: the summed arrays (or none, with the reason) and the replies."""

    arrays: Arrays | None
    replies: dict[str, RoundReply]
    survivors: list[str]
    reason: str | None = None
    exchanges: int = 0


def _fail(replies: dict[str, RoundReply], n: int, why: str) -> SecureSum:
    return SecureSum(None, replies, [], why, n)


def secure_sum(exchange: Exchange, stage: str, asks: dict[str, tuple[Arrays, dict[str, Any]]],
               *, round_id: str, threshold: int | None = None) -> SecureSum:  # fmt: skip
    """Run one ``stage`` round under secure aggregation: the server learns only the sum.

    ``replies`` holds each node's last reply (a node that failed any step is
    not ``ok``). No partial sum is returned when fewer than the threshold
    survive: the round fails with the reason.
    """
    from medhaven.prediction.node_training import RoundReply

    nodes = list(asks)
    replies: dict[str, RoundReply] = {}

    def keep(got: dict[str, RoundReply], among: list[str]) -> list[str]:
        replies.update(got)
        for n in among:
            replies.setdefault(n, RoundReply("failed", "no reply"))
        return [n for n in among if got.get(n) is not None and got[n].status == "ok"]

    live = keep(exchange("sa_keys", {n: ({}, {"round": round_id}) for n in nodes}), nodes)
    t = threshold if threshold is not None else threshold_for(len(live))
    if len(live) < max(2, t):
        return _fail(
            replies, 1, f"secure aggregation: {len(live)} nodes made keys; {max(2, t)} needed"
        )
    index = {n: i + 1 for i, n in enumerate(sorted(live))}
    peers = {n: {"index": index[n], "pk1": replies[n].meta.get("pk1"),
                 "pk2": replies[n].meta.get("pk2")} for n in live}  # fmt: skip
    got = exchange("sa_shares", {n: ({}, {"round": round_id, "peers": peers, "threshold": t})
                                 for n in live})  # fmt: skip
    u2 = keep(got, live)
    if len(u2) < max(2, t):
        return _fail(replies, 2, f"secure aggregation: {len(u2)} nodes shared keys; "
                     f"{max(2, t)} needed")  # fmt: skip
    inbox: dict[str, dict[str, str]] = {n: {} for n in u2}
    for src in u2:
        cts = replies[src].meta.get("ciphertexts") or {}
        for dst in u2:
            if dst != src and dst in cts:
                inbox[dst][src] = str(cts[dst])
    masked_asks = {}
    for n in u2:
        arrays, meta = asks[n]
        masked_asks[n] = (arrays, {**meta, "secagg": {"round": round_id, "ciphertexts": inbox[n]}})
    got = exchange(stage, masked_asks)
    u3 = keep(got, u2)
    if len(u3) < max(2, t):
        return _fail(replies, 3, f"secure aggregation: {len(u3)} masked vectors arrived; "
                     f"{max(2, t)} needed (no partial sum is released)")  # fmt: skip
    layouts = {repr(replies[n].meta.get("layout")) for n in u3}
    if len(layouts) != 1:
        raise InvalidInput("secure aggregation: the nodes' vectors have different layouts")
    layout = replies[u3[0]].meta["layout"]
    dropped = [n for n in u2 if n not in u3]
    masked_replies = {n: replies[n] for n in u3}
    got = exchange("sa_unmask", {n: ({}, {"round": round_id, "survivors": u3, "dropped": dropped})
                                 for n in u3})  # fmt: skip
    responders = [n for n in u3 if got.get(n) is not None and got[n].status == "ok"]
    for n in u3:  # a survivor that fails unmasking has still sent its vector: it stays counted
        if n not in responders:
            replies[n] = got.get(n) or RoundReply("failed", "no reply to sa_unmask")
    if len(responders) < t:
        return _fail(replies, 4, f"secure aggregation: {len(responders)} nodes answered the unmask "
                     f"step; {t} needed (no partial sum is released)")  # fmt: skip
    total = np.zeros(np.asarray(masked_replies[u3[0]].arrays["masked"]).size, dtype=np.uint64)
    for n in u3:
        vec = np.asarray(masked_replies[n].arrays["masked"], dtype=np.uint64).ravel()
        if vec.size != total.size:
            raise InvalidInput("secure aggregation: the nodes' vectors have different lengths")
        total = total + vec
    label = round_id
    try:
        for v in u3:
            b = combine_shares([_unb64(got[r].meta["b_shares"][v], "a share") for r in responders])
            total = total - prg(b, label, total.size)
        for d in dropped:
            sk = combine_shares([_unb64(got[r].meta["sk_shares"][d], "a share")
                                 for r in responders])  # fmt: skip
            for v in u3:
                mask = prg(_pair_seed(sk, str(peers[v]["pk1"]).encode("ascii")), label, total.size)
                total = total - mask if index[v] < index[d] else total + mask
    except (KeyError, ValueError, SecAggRefused):
        return _fail(replies, 4, "secure aggregation: the masks could not be rebuilt from the "
                     "shares (no partial sum is released)")  # fmt: skip
    summed = dequantize(total)
    out: Arrays = {}
    pos = 0
    for name, shape in layout:
        size = math.prod(shape) if shape else 1
        out[str(name)] = summed[pos : pos + size].reshape(shape)
        pos += size
    for n in u3:
        if replies[n].status == "ok":
            replies[n] = RoundReply("ok", None, {}, {})
    return SecureSum(out, replies, u3, None, 4)


__all__ = ["SECURE_STAGES", "SecureSum", "dequantize", "error_bound", "mask_reply", "newton_noise",
           "node_stage", "prg", "quantize", "secure_sum", "state_path", "step", "threshold_for",
           "value_bound"]  # fmt: skip
