/*
 * gen.c - deterministic data for the Select benchmark: ROWS rows of
 * id,name,city,age,score,ts as CSV (with a header) and as NDJSON.
 * usage: gen ROWS OUT.csv OUT.ndjson
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	state = state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(state >> 33);
}

int main(int argc, char **argv)
{
	static const char *const names[] = {
		"alice", "bob",	    "carol",  "dave",  "erin",
		"frank", "grace",   "heidi",  "ivan",  "judy",
		"alina", "mallory", "oscar",  "peggy", "alix",
		"trent", "victor",  "walter", "sybil", "aline",
	};
	static const char *const cities[] = {
		"Paris",  "London", "Berlin", "Madrid", "Rome",	  "Oslo",
		"Vienna", "Lisbon", "Dublin", "Prague", "Warsaw", "Athens",
	};
	if (argc != 4)
		return 2;
	long rows = strtol(argv[1], NULL, 10);
	FILE *c = fopen(argv[2], "w"), *j = fopen(argv[3], "w");
	if (!c || !j)
		return 1;
	fputs("id,name,city,age,score,ts\n", c);
	for (long i = 1; i <= rows; i++) {
		const char *n = names[rnd() % 20], *ci = cities[rnd() % 12];
		unsigned age = 18 + rnd() % 70, sc = rnd() % 100000;
		unsigned d = rnd() % 28 + 1, mo = rnd() % 12 + 1;
		unsigned h = rnd() % 24, mi = rnd() % 60;
		fprintf(c,
			"%ld,%s,%s,%u,%u.%02u,2023-%02u-%02uT%02u:%02u:00Z\n",
			i, n, ci, age, sc / 100, sc % 100, mo, d, h, mi);
		fprintf(j,
			"{\"id\":%ld,\"name\":\"%s\",\"city\":\"%s\",\"age\":%"
			"u,"
			"\"score\":%u.%02u,\"ts\":\"2023-%02u-%02uT%02u:%02u:"
			"00Z\"}\n",
			i, n, ci, age, sc / 100, sc % 100, mo, d, h, mi);
	}
	return fclose(c) || fclose(j);
}
