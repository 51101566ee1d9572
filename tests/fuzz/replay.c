/* Run a libFuzzer harness over files without libFuzzer: each argument is a
 * file or a directory of files (a corpus), each file one input. Built with
 * the normal compiler so that the seed corpus and every crash input kept in
 * the repository run as a unit test, also under ASan+UBSan (meson test
 * fuzz_e1000_corpus), on machines without clang. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    /* a copy of exactly the input's size, so ASan sees reads past its end */
    uint8_t *data = malloc(n ? n : 1);
    if (!data) {
        return -1;
    }
    memcpy(data, buf, n);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int files = 0;
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0) {
                return 1;
            }
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        char *names[4096];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 4096) {
            if (e->d_name[0] != '.') {
                names[n++] = strdup(e->d_name);
            }
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof(names[0]), cmp);
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]);
            if (run_file(path) < 0) {
                return 1;
            }
            files++;
            free(names[k]);
        }
    }
    printf("replayed %d inputs\n", files);
    return files > 0 ? 0 : 1;
}
