// Open MPI, loaded at run time: quill-train builds and runs without MPI, and uses it when mpirun starts it.
// Only what data-parallel training needs: init, rank and size, all-reduce (sum, max), broadcast, barrier.
#ifndef QUILL_MPI_H
#define QUILL_MPI_H

#include <stddef.h>

/// Loads libmpi (Open MPI's libmpi.so.40) and calls MPI_Init. Returns 0 on success; otherwise writes a reason
/// into `error` (at most `error_size` bytes, NUL-terminated) and returns -1.
int quill_mpi_init(char *error, size_t error_size);
int quill_mpi_rank(void);
int quill_mpi_size(void);
/// In-place sums over every rank (count elements). Return MPI's error code (0 = success).
int quill_mpi_allreduce_sum_float(float *data, long count);
int quill_mpi_allreduce_sum_double(double *data, long count);
int quill_mpi_allreduce_max_double(double *data, long count);
/// Rank `root`'s bytes to every rank.
int quill_mpi_broadcast(void *data, long bytes, int root);
int quill_mpi_barrier(void);
int quill_mpi_finalize(void);
void quill_mpi_abort(int code);

#endif
