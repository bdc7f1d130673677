/*
 * recv.c - a minimal keep-alive HTTP/1.1 receiver for the delivery
 * benchmark: one thread per connection, answers every POST with 204, and
 * appends "<monotonic ns> <records in body> <X-Bucketfs-Event-Id>" per
 * request to the log named on the command line (flushed at exit, SIGTERM).
 *
 *   recv PORT LOG
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static FILE *logf;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t count(const char *p, size_t n, const char *needle)
{
	size_t c = 0, l = strlen(needle);
	for (const char *q = p; (q = memmem(q, (size_t)(p + n - q), needle, l));
	     q += l)
		c++;
	return c;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		char *hdr_end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
		if (hdr_end) {
			size_t hl = (size_t)(hdr_end - buf) + 4;
			char *cl = memmem(buf, hl, "Content-Length:", 15);
			size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
			if (len >= hl + body) {
				char *id = memmem(buf, hl, "X-Bucketfs-Event-Id:", 20);
				long long eid = id ? atoll(id + 20) : -1;
				size_t recs = count(buf + hl, body, "\"eventVersion\"");
				long long t = now_ns();
				pthread_mutex_lock(&mu);
				fprintf(logf, "%lld %zu %lld\n", t, recs, eid);
				pthread_mutex_unlock(&mu);
				static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
				if (write(fd, ok, sizeof(ok) - 1) < 0)
					break;
				memmove(buf, buf + hl + body, len - hl - body);
				len -= hl + body;
				continue;
			}
		}
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	free(buf);
	close(fd);
	return NULL;
}

static void on_term(int sig)
{
	pthread_mutex_lock(&mu);
	fflush(logf);
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	logf = fopen(argv[2], "w");
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)atoi(argv[1])),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64))
		return 1;
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		pthread_create(&t, NULL, serve, (void *)(long)c);
		pthread_detach(t);
	}
}
