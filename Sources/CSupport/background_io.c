// Keeping background work (snapshots, archives) from starving the replica's own threads and fsyncs.
#define _GNU_SOURCE
#include "csupport.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int wallet_lower_thread_priority(int nice_increment) {
#ifdef __linux__
    pid_t thread = (pid_t)syscall(SYS_gettid);
    int current = getpriority(PRIO_PROCESS, (id_t)thread);
    return setpriority(PRIO_PROCESS, (id_t)thread, current + nice_increment);
#else
    (void)nice_increment;
    return 0;
#endif
}

int wallet_write_back_range(int fd, long long offset, long long length) {
#ifdef __linux__
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}
