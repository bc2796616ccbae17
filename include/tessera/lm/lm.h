// The language-model layer: load a Hugging Face model, sample, generate, evaluate.
#pragma once

#include "tessera/lm/bench.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/kv_cache.h"
#include "tessera/lm/model.h"
#include "tessera/lm/perplexity.h"
#include "tessera/lm/sample.h"
#include "tessera/lm/tokenizer.h"
