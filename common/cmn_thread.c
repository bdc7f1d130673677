/*
 * cmn_thread.c - named helper threads with signals blocked; see
 * cmn_thread.h.
 */
#include "cmn_thread.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int cmn_thread_start(pthread_t *out, const char *name, void *(*fn)(void *),
		     void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	/* The new thread inherits the mask in force at pthread_create(). */
	int rc = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (rc != 0)
		return -rc;
	rc = pthread_create(out, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	if (name) {
		char shortname[16];
		strncpy(shortname, name, sizeof(shortname) - 1);
		shortname[sizeof(shortname) - 1] = '\0';
		pthread_setname_np(*out, shortname);
	}
	return 0;
}

void cmn_thread_background(void)
{
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(),
			  CMN_THREAD_BACKGROUND_NICE);
}
