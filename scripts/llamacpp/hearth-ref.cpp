// hearth-ref: records llama.cpp's outputs on given prompts as JSON, the reference fixtures that
// Hearth's tests compare its own tokenizer, logits and greedy decoding with.
//
//   hearth-ref --model M.gguf --cases cases.json [--threads 1,2] [--n-predict 32]
//              [--logits all|last|none] [--top K] [--flash-attn auto|on|off] [--kv-type f16|f32]
//              [--verbose] > out.json
//
// cases.json: [{"name": "...", "text": "..."} | {"name": "...", "ids": [1, 2, 3]}, ...]
// A text case is tokenized by llama.cpp (parse_special = false), with a BOS in front when the model
// asks for one (llama_vocab_get_add_bos); an ids case is used as it is. For each case and each
// thread count, on a fresh CPU-only context: the whole prompt in one batch (n_batch = n_ubatch =
// prompt length), then greedy decoding (argmax, lowest id on ties) of up to n_predict tokens,
// stopping before an end-of-generation token (llama_vocab_is_eog). CPU weight repacking is off
// (use_extra_bufts = false, what the tools' --no-repack / --repack 0 does): it crashes on the
// tiny test models' shapes. The KV cache is llama.cpp's default f16 unless --kv-type f32.
//
// Output (stdout):
//   {"model": basename, "llama_cpp": version, "n_vocab": N, "add_bos": bool, "bos_id": id,
//    "logits_mode": "all|last|none", "flash_attn": "auto|on|off",
//    "cases": [{"name", "prompt_ids": [...], "runs": [{"threads": T, "generated_ids": [...],
//      "generated_text": "...", "stop": "eog|length", "eog_id": id (when stop is eog),
//      "logits_positions": [prompt positions], "logits": [[n_vocab floats] per position],
//      "top": [[id, logit] x K, for the last prompt position]}]}]}
// Logits are printed with %.9g, which round-trips an f32 exactly. The decoded prompt and
// continuation of each run go to stderr.

#include "llama.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#ifndef HEARTH_LLAMA_CPP_ID
#define HEARTH_LLAMA_CPP_ID ""
#endif

struct Case {
    std::string name;
    std::vector<llama_token> ids;  // empty for a text case until tokenized
    std::string text;
    bool is_text = false;
};

struct Options {
    std::string model, cases;
    std::vector<int> threads = {1};
    int n_predict = 32;
    std::string logits = "last";
    int top = 10;
    std::string flash_attn = "auto";
    std::string kv_type = "f16";
    bool verbose = false;
};

[[noreturn]] static void fail(const std::string & msg) {
    fprintf(stderr, "hearth-ref: error: %s\n", msg.c_str());
    exit(1);
}

static void usage() {
    fprintf(stderr,
            "usage: hearth-ref --model M.gguf --cases cases.json [--threads 1,2] [--n-predict 32]\n"
            "                  [--logits all|last|none] [--top K] [--flash-attn auto|on|off] [--verbose]\n");
    exit(2);
}

static int parse_int(const std::string & s, const char * what) {
    char * end = nullptr;
    long v = strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < 0 || v > 1 << 30) fail(std::string("bad ") + what + ": " + s);
    return (int) v;
}

static Options parse_args(int argc, char ** argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--model" || a == "-m") o.model = value();
        else if (a == "--cases") o.cases = value();
        else if (a == "--threads" || a == "-t") {
            o.threads.clear();
            std::string list = value();
            for (size_t start = 0; start <= list.size();) {
                size_t comma = list.find(',', start);
                if (comma == std::string::npos) comma = list.size();
                int t = parse_int(list.substr(start, comma - start), "thread count");
                if (t < 1) fail("thread counts must be >= 1");
                o.threads.push_back(t);
                start = comma + 1;
            }
        } else if (a == "--n-predict" || a == "-n") o.n_predict = parse_int(value(), "--n-predict");
        else if (a == "--logits") o.logits = value();
        else if (a == "--top") o.top = parse_int(value(), "--top");
        else if (a == "--flash-attn") o.flash_attn = value();
        else if (a == "--kv-type") o.kv_type = value();
        else if (a == "--verbose" || a == "-v") o.verbose = true;
        else usage();
    }
    if (o.model.empty() || o.cases.empty()) usage();
    if (o.logits != "all" && o.logits != "last" && o.logits != "none") fail("--logits must be all, last or none");
    if (o.flash_attn != "auto" && o.flash_attn != "on" && o.flash_attn != "off") fail("--flash-attn must be auto, on or off");
    if (o.kv_type != "f16" && o.kv_type != "f32") fail("--kv-type must be f16 or f32");
    return o;
}

static std::vector<Case> read_cases(const std::string & path) {
    std::ifstream in(path);
    if (!in) fail("cannot open " + path);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const std::exception & e) {
        fail(path + ": " + e.what());
    }
    if (!j.is_array()) fail(path + ": expected a JSON array of cases");
    std::vector<Case> cases;
    for (const auto & c : j) {
        Case k;
        if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) fail(path + ": every case needs a \"name\"");
        k.name = c["name"];
        if (c.contains("text") && c["text"].is_string()) {
            k.text = c["text"];
            k.is_text = true;
        } else if (c.contains("ids") && c["ids"].is_array()) {
            for (const auto & id : c["ids"]) {
                if (!id.is_number_integer()) fail(path + ": case " + k.name + ": ids must be integers");
                k.ids.push_back(id.get<llama_token>());
            }
        } else {
            fail(path + ": case " + k.name + " needs \"text\" (a string) or \"ids\" (an array)");
        }
        cases.push_back(k);
    }
    return cases;
}

static std::vector<llama_token> tokenize(const llama_vocab * vocab, const std::string & text) {
    // add_special = false, so only the BOS below is added (never an EOS), parse_special = false.
    int n = -llama_tokenize(vocab, text.data(), (int32_t) text.size(), nullptr, 0, false, false);
    std::vector<llama_token> ids(std::max(n, 0));
    if (n > 0 && llama_tokenize(vocab, text.data(), (int32_t) text.size(), ids.data(), n, false, false) != n) {
        fail("tokenization failed");
    }
    if (llama_vocab_get_add_bos(vocab)) {
        if (llama_vocab_bos(vocab) == LLAMA_TOKEN_NULL) fail("the model asks for a BOS but has none");
        ids.insert(ids.begin(), llama_vocab_bos(vocab));
    }
    return ids;
}

static std::string detokenize(const llama_vocab * vocab, const std::vector<llama_token> & ids) {
    std::string s(ids.size() * 16 + 16, '\0');
    int n = llama_detokenize(vocab, ids.data(), (int32_t) ids.size(), s.data(), (int32_t) s.size(), false, false);
    if (n < 0) {
        s.resize(-n);
        n = llama_detokenize(vocab, ids.data(), (int32_t) ids.size(), s.data(), (int32_t) s.size(), false, false);
    }
    s.resize(std::max(n, 0));
    return s;
}

static llama_token argmax(const float * logits, int n_vocab) {
    llama_token best = 0;
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > logits[best]) best = i;  // strict: the lowest id wins a tie
    }
    return best;
}

// --- JSON output (by hand, to control the float format) ------------------------------------------

static void put_string(FILE * f, const std::string & s) {
    fputc('"', f);
    for (unsigned char c : s) {
        switch (c) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default:
                if (c < 0x20) fprintf(f, "\\u%04x", c);
                else fputc(c, f);  // UTF-8 passes through (a token may end mid-character: see below)
        }
    }
    fputc('"', f);
}

static void put_float(FILE * f, float v) {
    if (std::isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

static void put_ids(FILE * f, const std::vector<llama_token> & ids) {
    fputc('[', f);
    for (size_t i = 0; i < ids.size(); i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
    fputc(']', f);
}

// Replaces invalid UTF-8 (a continuation cut off at n_predict) with U+FFFD, so the JSON stays valid.
static std::string valid_utf8(const std::string & s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char) s[i + k] >> 6) == 2;
        if (ok) {
            out.append(s, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            i += 1;
        }
    }
    return out;
}

static void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char ** argv) {
    std::setlocale(LC_NUMERIC, "C");
    Options opt = parse_args(argc, argv);
    std::vector<Case> cases = read_cases(opt.cases);

    if (!opt.verbose) llama_log_set(quiet_log, nullptr);
    llama_backend_init();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;         // CPU only
    mp.use_extra_bufts = false;  // no CPU weight repacking (--no-repack)
    llama_model * model = llama_model_load_from_file(opt.model.c_str(), mp);
    if (!model) fail("cannot load " + opt.model);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    for (auto & c : cases) {
        if (c.is_text) c.ids = tokenize(vocab, c.text);
        if (c.ids.empty()) fail("case " + c.name + " has no tokens");
        for (llama_token id : c.ids) {
            if (id < 0 || id >= n_vocab) fail("case " + c.name + ": token id " + std::to_string(id) + " out of range");
        }
    }

    std::string version = llama_version();
    if (std::strlen(HEARTH_LLAMA_CPP_ID)) version += std::string(" (") + HEARTH_LLAMA_CPP_ID + ")";
    std::string base = opt.model.substr(opt.model.find_last_of('/') + 1);

    FILE * out = stdout;
    fputs("{\"model\": ", out);
    put_string(out, base);
    fputs(", \"llama_cpp\": ", out);
    put_string(out, version);
    fprintf(out, ", \"n_vocab\": %d, \"add_bos\": %s, \"bos_id\": %d", n_vocab,
            llama_vocab_get_add_bos(vocab) ? "true" : "false", llama_vocab_bos(vocab));
    fprintf(out, ", \"logits_mode\": \"%s\", \"flash_attn\": \"%s\", \"kv_type\": \"%s\",\n \"cases\": [", opt.logits.c_str(),
            opt.flash_attn.c_str(), opt.kv_type.c_str());

    for (size_t ci = 0; ci < cases.size(); ci++) {
        const Case & c = cases[ci];
        const int n_prompt = (int) c.ids.size();
        fprintf(out, "%s\n  {\"name\": ", ci ? "," : "");
        put_string(out, c.name);
        fputs(", \"prompt_ids\": ", out);
        put_ids(out, c.ids);
        fputs(", \"runs\": [", out);
        fprintf(stderr, "[%s] prompt (%d tokens): %s\n", c.name.c_str(), n_prompt, detokenize(vocab, c.ids).c_str());

        for (size_t ti = 0; ti < opt.threads.size(); ti++) {
            const int threads = opt.threads[ti];
            llama_context_params cp = llama_context_default_params();
            cp.n_ctx = n_prompt + opt.n_predict + 1;
            cp.n_batch = cp.n_ubatch = n_prompt;
            cp.n_seq_max = 1;
            cp.n_threads = cp.n_threads_batch = threads;
            cp.offload_kqv = false;
            cp.op_offload = false;
            cp.no_perf = true;
            cp.type_k = cp.type_v = opt.kv_type == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
            cp.flash_attn_type = opt.flash_attn == "on"    ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                 : opt.flash_attn == "off" ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                                           : LLAMA_FLASH_ATTN_TYPE_AUTO;
            llama_context * ctx = llama_init_from_model(model, cp);
            if (!ctx) fail("cannot create a context for case " + c.name);

            // The prompt, in one batch; logits for every position or for the last one only.
            llama_batch batch = llama_batch_init(n_prompt, 0, 1);
            batch.n_tokens = n_prompt;
            std::vector<int> positions;  // prompt positions whose logits are recorded
            for (int i = 0; i < n_prompt; i++) {
                batch.token[i] = c.ids[i];
                batch.pos[i] = i;
                batch.n_seq_id[i] = 1;
                batch.seq_id[i][0] = 0;
                batch.logits[i] = (opt.logits == "all" || i == n_prompt - 1) ? 1 : 0;
                if (opt.logits == "all" || (opt.logits == "last" && i == n_prompt - 1)) positions.push_back(i);
            }
            if (llama_decode(ctx, batch) != 0) fail("llama_decode failed on the prompt of " + c.name);

            std::vector<std::vector<float>> logits;
            for (int p : positions) {
                const float * row = llama_get_logits_ith(ctx, p);
                if (!row) fail("no logits for position " + std::to_string(p));
                logits.emplace_back(row, row + n_vocab);
            }
            const float * last = llama_get_logits_ith(ctx, n_prompt - 1);
            if (!last) fail("no logits for the last prompt position");
            std::vector<float> last_row(last, last + n_vocab);

            std::vector<llama_token> order(n_vocab);
            std::iota(order.begin(), order.end(), 0);
            const int k = std::min(opt.top, n_vocab);
            std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](llama_token a, llama_token b) {
                return last_row[a] != last_row[b] ? last_row[a] > last_row[b] : a < b;
            });

            // Greedy decoding, one token at a time.
            std::vector<llama_token> generated;
            llama_token next = argmax(last_row.data(), n_vocab);
            bool eog = false;
            for (int step = 0; step < opt.n_predict; step++) {
                if (llama_vocab_is_eog(vocab, next)) {
                    eog = true;
                    break;
                }
                generated.push_back(next);
                if ((int) generated.size() == opt.n_predict) break;
                batch.n_tokens = 1;
                batch.token[0] = next;
                batch.pos[0] = n_prompt + step;
                batch.n_seq_id[0] = 1;
                batch.seq_id[0][0] = 0;
                batch.logits[0] = 1;
                if (llama_decode(ctx, batch) != 0) fail("llama_decode failed while generating for " + c.name);
                next = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
            }
            llama_batch_free(batch);
            llama_free(ctx);

            const std::string text = detokenize(vocab, generated);
            fprintf(stderr, "[%s] threads=%d generated %zu%s: ", c.name.c_str(), threads, generated.size(),
                    eog ? " (stopped at eog)" : "");
            for (size_t i = 0; i < generated.size(); i++) fprintf(stderr, "%s%d", i ? " " : "", generated[i]);
            fprintf(stderr, "\n    %s\n", text.c_str());

            fprintf(out, "%s\n    {\"threads\": %d, \"generated_ids\": ", ti ? "," : "", threads);
            put_ids(out, generated);
            fputs(", \"generated_text\": ", out);
            put_string(out, valid_utf8(text));
            fprintf(out, ", \"stop\": \"%s\"", eog ? "eog" : "length");
            if (eog) fprintf(out, ", \"eog_id\": %d", next);
            fputs(",\n     \"top\": [", out);
            for (int i = 0; i < k; i++) {
                fprintf(out, "%s[%d, ", i ? ", " : "", order[i]);
                put_float(out, last_row[order[i]]);
                fputc(']', out);
            }
            fputs("],\n     \"logits_positions\": [", out);
            for (size_t i = 0; i < positions.size(); i++) fprintf(out, "%s%d", i ? ", " : "", positions[i]);
            fputs("], \"logits\": [", out);
            for (size_t r = 0; r < logits.size(); r++) {
                fputs(r ? ",\n      [" : "\n      [", out);
                for (int v = 0; v < n_vocab; v++) {
                    if (v) fputc(',', out);
                    put_float(out, logits[r][v]);
                }
                fputc(']', out);
            }
            fputs("]}", out);
        }
        fputs("]}", out);
    }
    fputs("\n]}\n", out);
    fflush(out);

    llama_model_free(model);
    llama_backend_free();
    return 0;
}
