/* Fuzz target: the model file readers (YAML, JSON, OSCAL catalog) and, for
 * every input they accept, the writers and the round trip. */
#include "model.h"
#include "opra_buf.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const model *m)
{
	opra_buf y = OPRA_BUF_INIT, j = OPRA_BUF_INIT;
	model *back = NULL;
	if (model_write_yaml(m, &y) != 0 || model_write_json(m, &j) != 0)
		abort();
	/* What was accepted must read back equal from both writers. */
	if (model_parse(&back, "yaml", (const char *)y.data, y.len, "opra") != 0 ||
	    !model_equal(m, back))
		abort();
	model_free(back);
	back = NULL;
	if (model_parse(&back, "json", (const char *)j.data, j.len, "opra") != 0 ||
	    !model_equal(m, back))
		abort();
	model_free(back);
	opra_buf_free(&y);
	opra_buf_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = {"opra", "oscal-catalog", NULL};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		model *m = NULL;
		if (model_parse(&m, "fuzz", (const char *)data, size, formats[i]) == 0) {
			if (model_validate(m) != 0)
				abort(); /* model_parse validates */
			round_trip(m);
		}
		model_free(m);
	}
	return 0;
}
