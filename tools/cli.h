/* Subcommands of the glossa command and their shared helpers. */
#ifndef GLOSSA_TOOLS_CLI_H
#define GLOSSA_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

int cmd_tokenize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_translate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* Print "glossa: <what>: <last error>" to stderr and return 1. */
int cli_fail(const char *what);

/* Read all of f into a malloc'd buffer; NULL on failure. */
char *cli_read_all(FILE *f, size_t *len);

/* The model directory when -m is not given: $GLOSSA_MODEL, else the demo model the project ships
 * (models/glossa-demo of the source tree this binary was built from, else beside the binary:
 * <bin>/../models/glossa-demo or <bin>/../share/glossa/models/glossa-demo). NULL when none is
 * there. The result is valid until the next call. */
const char *cli_default_model(void);

/* --dtype's value: fp16 / float16 (false) or bf16 / bfloat16 (true) into *bf16; -1 otherwise. */
int cli_parse_dtype(const char *s, bool *bf16);

/* Monotonic seconds. */
double cli_now(void);

#endif
