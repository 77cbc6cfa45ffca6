// In C because glibc declares pthread_setname_np only under _GNU_SOURCE, which Swift's Glibc module does not
// see; Foundation's Thread.name does not reach the kernel's thread name on Linux.
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>

#include "engage_system.h"

void engage_set_thread_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    pthread_setname_np(pthread_self(), shortened);
}
