/* A bounded mutation driver for libFuzzer-style targets, for builds
 * without clang's -fsanitize=fuzzer (gcc, CI). It replays every file of the
 * corpus directory, then mutates them (bit flips, byte changes, insertions,
 * deletions, truncations, splices) for --iterations runs or --seconds,
 * whichever comes first, with a fixed seed so a failure can be replayed.
 * Crashes are caught by ASan/UBSan in the sanitizer build.
 *
 * usage: fuzz_x [--iterations N] [--seconds S] [--seed N] [CORPUS_DIR...] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: targets may provide seeds when the corpus directory is empty. */
__attribute__((weak)) size_t fuzz_seed(size_t index, uint8_t *buf, size_t cap);

#define FUZZ_MAX_INPUT 65536
#define MAX_CORPUS     256

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic for a given --seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

typedef struct {
	uint8_t *data;
	size_t len;
} input;

static input corpus[MAX_CORPUS];
static size_t n_corpus;

static void add_input(const uint8_t *d, size_t len)
{
	if (n_corpus == MAX_CORPUS || len > FUZZ_MAX_INPUT)
		return;
	corpus[n_corpus].data = malloc(len ? len : 1);
	if (corpus[n_corpus].data == NULL)
		return;
	memcpy(corpus[n_corpus].data, d, len);
	corpus[n_corpus].len = len;
	n_corpus++;
}

static void load_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	if (dp == NULL)
		return;
	struct dirent *e;
	static uint8_t buf[FUZZ_MAX_INPUT];
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		add_input(buf, n);
	}
	closedir(dp);
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
	int rounds = 1 + (int)(rnd() % 4);
	for (int r = 0; r < rounds; r++) {
		switch (rnd() % 7) {
		case 0: /* flip a bit */
			if (len)
				buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1: /* set a byte to an interesting value */
			if (len) {
				static const uint8_t vals[] = {0,    1,	   0x7f, 0x80,
							       0xff, 0x0a, 0x12, 0x22};
				buf[rnd() % len] = vals[rnd() % sizeof(vals)];
			}
			break;
		case 2: /* insert random bytes */
			if (len < cap) {
				size_t at = len ? rnd() % (len + 1) : 0;
				size_t n = 1 + rnd() % 8;
				if (n > cap - len)
					n = cap - len;
				memmove(buf + at + n, buf + at, len - at);
				for (size_t i = 0; i < n; i++)
					buf[at + i] = (uint8_t)rnd();
				len += n;
			}
			break;
		case 3: /* delete bytes */
			if (len) {
				size_t at = rnd() % len;
				size_t n = 1 + rnd() % (len - at);
				memmove(buf + at, buf + at + n, len - at - n);
				len -= n;
			}
			break;
		case 4: /* truncate */
			if (len)
				len = rnd() % len;
			break;
		case 5: /* splice another input */
			if (n_corpus) {
				input *o = &corpus[rnd() % n_corpus];
				if (o->len) {
					size_t from = rnd() % o->len;
					size_t at = len ? rnd() % len : 0;
					size_t n = o->len - from;
					if (at + n > cap)
						n = cap - at;
					memcpy(buf + at, o->data + from, n);
					if (at + n > len)
						len = at + n;
				}
			}
			break;
		default: /* a big varint length where a length would be */
			if (len > 2) {
				size_t at = rnd() % (len - 1);
				buf[at] = 0xff;
				buf[at + 1] = (uint8_t)(0x80 | rnd());
			}
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	long iterations = 100000, seconds = 30;
	unsigned long long seed = 0x6f707261ULL;
	const char *dirs[8];
	int ndirs = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
			iterations = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (ndirs < 8)
			dirs[ndirs++] = argv[i];
	}
	rng_state = seed ? seed : 1;
	for (int i = 0; i < ndirs; i++)
		load_dir(dirs[i]);
	if (fuzz_seed) {
		static uint8_t sbuf[FUZZ_MAX_INPUT];
		for (size_t k = 0;; k++) {
			size_t n = fuzz_seed(k, sbuf, sizeof(sbuf));
			if (n == 0)
				break;
			add_input(sbuf, n);
		}
	}
	for (size_t i = 0; i < n_corpus; i++)
		LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].len);
	static uint8_t buf[FUZZ_MAX_INPUT];
	time_t start = time(NULL);
	long done = 0;
	for (; done < iterations; done++) {
		if ((done & 1023) == 0 && time(NULL) - start >= seconds)
			break;
		size_t len = 0;
		if (n_corpus) {
			input *in = &corpus[rnd() % n_corpus];
			memcpy(buf, in->data, in->len);
			len = in->len;
		}
		len = mutate(buf, len, sizeof(buf));
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz: %zu seeds, %ld mutated inputs in %ld s (seed %llu), no crash\n", n_corpus,
	       done, (long)(time(NULL) - start), seed);
	for (size_t i = 0; i < n_corpus; i++)
		free(corpus[i].data);
	return 0;
}
