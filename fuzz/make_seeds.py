#!/usr/bin/env python3
"""Writes the small seed corpora under fuzz/corpus/<target>/: one or a few valid files of each
format (plus near-misses), so libFuzzer starts from inputs that reach deep into each parser.
Run from the repository root: python3 fuzz/make_seeds.py"""
import gzip, json, os, struct, subprocess

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def fnv1a64(data, h=0xcbf29ce484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def shard(tokens, width=2, vocab=300, eos=2, version=2):
    tok_fp = 0x1234
    # Version 2 stores the content fingerprint (data/shard.h): n_tokens, tokenizer fingerprint,
    # then every token as int32.
    fp = fnv1a64(struct.pack("<QQ", len(tokens), tok_fp) + b"".join(struct.pack("<i", t) for t in tokens))
    h = b"RHOTOKS1" + struct.pack("<IIQQII", version, width, len(tokens), tok_fp, vocab, eos)
    if version >= 2:
        h += struct.pack("<Q", fp)
    h += b"\0" * (64 - len(h))
    return h + b"".join(struct.pack("<H" if width == 2 else "<I", t) for t in tokens)


put("shard", "valid2", shard([5, 6, 7, 2, 9, 2]))
put("shard", "valid4", shard([70000, 3, 2], width=4, vocab=70001))
put("shard", "empty", shard([]))
put("shard", "truncated", shard([5, 6, 7, 2])[:-3])
put("shard", "v1_valid2", shard([5, 6, 7, 2, 9, 2], version=1))
put("shard", "v2_token_outside_vocab", shard([5, 299, 300, 2]))

scores = [float("nan"), 1.5, 2.25, 0.0]


def score_file(version, dtype, values):
    # dtype 1 float32, 2 float16, 3 bfloat16 (scoring/score_file.h); numpy-free packing.
    if dtype == 1:
        body = b"".join(struct.pack("<f", v) for v in values)
    elif dtype == 2:
        body = b"".join(struct.pack("<e", v) for v in values)
    else:
        body = b"".join(struct.pack("<f", v)[2:] for v in values)  # truncated float32 (exact here)
    return b"RHOSCOR1" + struct.pack("<IIQQQI", version, dtype, len(values), 7, 9, 3) + b"\0" * 20 + body


put("score_file", "valid", score_file(1, 1, scores))
put("score_file", "v2_f32", score_file(2, 1, scores))
put("score_file", "v2_f16", score_file(2, 2, scores))
put("score_file", "v2_bf16", score_file(2, 3, scores))
put("score_file", "v1_with_f16_dtype", score_file(1, 2, scores))

state = {"step": 40, "data_cursor": 320, "tokens_seen": 10240, "tokens_trained": 6144, "bad_steps": 1,
         "run": {"seq_len": 32, "objective": "slm", "ratio": 0.6}}
put("checkpoint", "trainer_state.json", json.dumps(state, indent=2))
put("checkpoint", "latest", "step_0000040\n")

cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 300, "hidden_size": 64,
       "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
       "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": False,
       "hidden_act": "silu", "head_dim": 16, "rope_scaling": None}
put("config", "config.json", json.dumps(cfg, indent=2))
put("config", "rope_parameters.json", json.dumps({**cfg, "rope_parameters": {"rope_type": "default", "rope_theta": 5e5}}))
# The families (model/config.h): Llama 3 scaling and a tied head (transformers 4 style), linear
# scaling in transformers 5's rope_parameters, Qwen2 windows per layer, Mistral's window.
llama3 = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 128}
put("config", "llama3.json", json.dumps({**cfg, "head_dim": 24, "tie_word_embeddings": True, "rope_scaling": llama3}))
put("config", "linear_v5.json", json.dumps({**cfg, "attention_bias": True, "rope_scaling": None, "dtype": "bfloat16",
                                             "rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e4}}))
qwen2 = {**cfg, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "use_sliding_window": True,
         "sliding_window": 32, "max_window_layers": 1}
put("config", "qwen2.json", json.dumps(qwen2))
put("config", "qwen2_layer_types.json", json.dumps({**qwen2, "layer_types": ["sliding_attention", "full_attention"]}))
put("config", "mistral.json", json.dumps({**cfg, "architectures": ["MistralForCausalLM"], "model_type": "mistral",
                                          "sliding_window": 4096}))

# input_ids: rho model logits --input-ids (parsed against a vocabulary of 300).
put("input_ids", "two_rows.json", "[[1, 2, 3], [4, 5, 299]]")
put("input_ids", "ragged.json", "[[1, 2], [3]]")

# documents: the first byte picks the reader (fuzz/parsers.cpp).
put("documents", "jsonl_text", b"\x00" + b'{"text": "one"}\n\n{"text": "two\\nlines"}\r\n')
put("documents", "jsonl_fields", b"\x01" + b'{"text": "body", "title": "head"}\n')
put("documents", "jsonl_template", b"\x12" + b'{"question": "1+1?", "answer": "2", "x": "y"}\n')
put("documents", "text_blocks", b"\x0c" + b"para one\nstill one\n\n\npara two\n")
put("documents", "text_whole", b"\x08" + b"a whole file\n")
# Compressed: mode bit 32 is gzip, 64 zstd (fuzz/parsers.cpp); the zstd seed needs the zstd tool.
put("documents", "jsonl_gzip", b"\x20" + gzip.compress(b'{"text": "one"}\n{"text": "two"}\n', mtime=0))
put("documents", "jsonl_gzip_two_members", b"\x20" + gzip.compress(b'{"text": "a"}\n', mtime=0) +
    gzip.compress(b'{"text": "b"}\n', mtime=0))
try:
    z = subprocess.run(["zstd", "-q", "-c"], input=b'{"text": "one"}\n{"text": "two"}\n', capture_output=True, check=True)
    put("documents", "jsonl_zstd", b"\x40" + z.stdout)
except (OSError, subprocess.CalledProcessError):
    print("zstd tool missing: no zstd seed written")


def safetensors(tensors, meta=None):
    header, blob = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


put("safetensors", "two", safetensors({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                                        "b": ("BF16", [3], b"\x80\x3f" * 3)}, {"format": "pt"}))
put("safetensors", "ints", safetensors({"i": ("I64", [1], struct.pack("<q", -5)),
                                         "m": ("BOOL", [2, 0], b""), "u": ("U8", [3], b"abc")}))

# tokenizer: the first byte picks the mode (fuzz/parsers.cpp): 0 tokenizer.json, 1 .model, 2 text.
tiny = os.path.join(os.path.dirname(ROOT), "..", "tests", "fixtures", "tokenizers", "tiny", "tokenizer.json")
put("tokenizer", "tiny_json", b"\x00" + open(tiny, "rb").read())


def pb_varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_field(field, wire, payload):
    if wire == 2:
        payload = pb_varint(len(payload)) + payload
    return pb_varint(field << 3 | wire) + payload


def spm_model(model_type, byte_fallback):
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    if byte_fallback:
        pieces += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    pieces += [(p, -float(i), 1) for i, p in enumerate(["\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "c"])]
    pieces += [("<sep>", 0.0, 4)]
    proto = b"".join(pb_field(1, 2, pb_field(1, 2, p.encode()) + pb_field(2, 5, struct.pack("<f", s)) +
                              pb_field(3, 0, pb_varint(t))) for p, s, t in pieces)
    trainer = pb_field(3, 0, pb_varint(model_type)) + pb_field(35, 0, pb_varint(int(byte_fallback)))
    normalizer = pb_field(1, 2, b"identity") + pb_field(3, 0, pb_varint(1))
    return proto + pb_field(2, 2, trainer) + pb_field(3, 2, normalizer)


put("tokenizer", "bpe_model", b"\x01" + spm_model(2, True))
put("tokenizer", "unigram_model", b"\x01" + spm_model(1, False))
put("tokenizer", "text_mixed", b"\x02" + "Hello  world\n caf\u00e9 <|end|> <sep> 12345 \u65e5\u672c".encode() + b"\xff\xfe")
put("tokenizer", "text_spaces", b"\x03" + b"\t\r\n   \xe2\x96\x81\xe2\x96\x81 'S 'll")
