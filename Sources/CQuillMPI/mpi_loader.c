// Open MPI through dlopen: MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are, in Open MPI's ABI, the
// addresses of exported objects (ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum), and MPI_IN_PLACE is
// (void *)1, so the library's symbols are all a caller needs; no mpi.h at build time, no libmpi at link time.
#include "quill_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *Handle;
static int (*p_init)(int *, char ***);
static int (*p_initialized)(int *);
static int (*p_comm_rank)(Handle, int *);
static int (*p_comm_size)(Handle, int *);
static int (*p_allreduce)(const void *, void *, int, Handle, Handle, Handle);
static int (*p_bcast)(void *, int, Handle, int, Handle);
static int (*p_barrier)(Handle);
static int (*p_finalize)(void);
static int (*p_abort)(Handle, int);
static Handle comm_world, type_float, type_double, type_byte, op_sum, op_max;
static int rank_ = 0, size_ = 1;
#define IN_PLACE ((void *)1)

static void *lib;

static int load(char *error, size_t n) {
    const char *names[] = {"libmpi.so.40", "libmpi.so"};
    for (size_t i = 0; i < 2 && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        snprintf(error, n, "cannot load Open MPI's libmpi.so.40 (%s); install openmpi-bin", dlerror());
        return -1;
    }
#define SYM(var, name)                                                                  \
    do {                                                                                \
        *(void **)(&var) = dlsym(lib, name);                                            \
        if (!var) {                                                                     \
            snprintf(error, n, "libmpi has no %s: is it Open MPI 4 or later?", name);   \
            return -1;                                                                  \
        }                                                                               \
    } while (0)
    SYM(p_init, "MPI_Init");
    SYM(p_initialized, "MPI_Initialized");
    SYM(p_comm_rank, "MPI_Comm_rank");
    SYM(p_comm_size, "MPI_Comm_size");
    SYM(p_allreduce, "MPI_Allreduce");
    SYM(p_bcast, "MPI_Bcast");
    SYM(p_barrier, "MPI_Barrier");
    SYM(p_finalize, "MPI_Finalize");
    SYM(p_abort, "MPI_Abort");
    SYM(comm_world, "ompi_mpi_comm_world");
    SYM(type_float, "ompi_mpi_float");
    SYM(type_double, "ompi_mpi_double");
    SYM(type_byte, "ompi_mpi_byte");
    SYM(op_sum, "ompi_mpi_op_sum");
    SYM(op_max, "ompi_mpi_op_max");
#undef SYM
    return 0;
}

int quill_mpi_init(char *error, size_t n) {
    if (load(error, n) != 0) return -1;
    int done = 0;
    p_initialized(&done);
    if (!done && p_init(NULL, NULL) != 0) {
        snprintf(error, n, "MPI_Init failed");
        return -1;
    }
    p_comm_rank(comm_world, &rank_);
    p_comm_size(comm_world, &size_);
    return 0;
}

int quill_mpi_rank(void) { return rank_; }
int quill_mpi_size(void) { return size_; }

// MPI counts are ints: long buffers go in pieces of at most 2^30 elements.
static int allreduce(void *data, long count, Handle type, size_t width, Handle op) {
    char *p = data;
    while (count > 0) {
        int c = count > (1L << 30) ? (1 << 30) : (int)count;
        int r = p_allreduce(IN_PLACE, p, c, type, op, comm_world);
        if (r != 0) return r;
        p += (size_t)c * width;
        count -= c;
    }
    return 0;
}

int quill_mpi_allreduce_sum_float(float *data, long count) { return allreduce(data, count, type_float, 4, op_sum); }
int quill_mpi_allreduce_sum_double(double *data, long count) { return allreduce(data, count, type_double, 8, op_sum); }
int quill_mpi_allreduce_max_double(double *data, long count) { return allreduce(data, count, type_double, 8, op_max); }

int quill_mpi_broadcast(void *data, long bytes, int root) {
    char *p = data;
    while (bytes > 0) {
        int c = bytes > (1L << 30) ? (1 << 30) : (int)bytes;
        int r = p_bcast(p, c, type_byte, root, comm_world);
        if (r != 0) return r;
        p += c;
        bytes -= c;
    }
    return 0;
}

int quill_mpi_barrier(void) { return p_barrier(comm_world); }
int quill_mpi_finalize(void) { return p_finalize ? p_finalize() : 0; }
void quill_mpi_abort(int code) {
    if (p_abort) p_abort(comm_world, code);
}
