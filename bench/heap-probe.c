/* Preloaded into a process by bench/heap-timeline.sh: every 200 ms it
 * appends one line with the process's resident memory and glibc's view of
 * its heap (mallinfo2, summed over all arenas) to the file named by
 * HEAP_PROBE_OUT:
 *
 *   <tick> rss <MiB> heap <MiB> mmap <MiB> inuse <MiB> free <MiB>
 *
 * heap: bytes the arenas took from the kernel (sbrk and arena heaps);
 * mmap: blocks mmapped on their own (at or above the mmap threshold);
 * inuse / free: allocated and free bytes inside the arenas. Not part of
 * pixline: a measuring aid, built by the script with cc. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void* sample(void* arg) {
  FILE* out = arg;
  long page = sysconf(_SC_PAGESIZE);
  for (long tick = 0;; ++tick) {
    struct mallinfo2 m = mallinfo2();
    long size = 0, resident = 0;
    FILE* statm = fopen("/proc/self/statm", "r");
    if (statm) {
      if (fscanf(statm, "%ld %ld", &size, &resident) != 2)
        resident = 0;
      fclose(statm);
    }
    fprintf(out, "%ld rss %ld heap %zu mmap %zu inuse %zu free %zu\n", tick,
            resident * page >> 20, m.arena >> 20, m.hblkhd >> 20,
            m.uordblks >> 20, m.fordblks >> 20);
    fflush(out);
    usleep(200 * 1000);
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  const char* path = getenv("HEAP_PROBE_OUT");
  FILE* out = path ? fopen(path, "w") : NULL;
  pthread_t thread;
  if (out && pthread_create(&thread, NULL, sample, out) == 0)
    pthread_detach(thread);
}
