/* The glossa command: dispatches to subcommands. Front end over include/glossa.h only. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "glossa.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} g_cmds[] = {
    {"tokenize", cmd_tokenize, "text lines to token ids, pieces, or back (--decode)"},
    {"synth", cmd_synth, "write a random-weight model directory of a real architecture"},
    {"translate", cmd_translate, "translate lines on stdin with a model directory"},
    {"bench", cmd_bench, "generation throughput with forced output lengths"},
    {"serve", cmd_serve, "HTTP server: /translate, /v1/completions, /languages, /metrics"},
    {"eval", cmd_eval, "corpus BLEU and chrF2 of a hypothesis file against references"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: glossa COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", g_cmds[i].name, g_cmds[i].help);
    fprintf(f, "\n`glossa COMMAND --help` shows a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("glossa %d.%d.%d\n", GLOSSA_VERSION_MAJOR, GLOSSA_VERSION_MINOR, GLOSSA_VERSION_PATCH);
        return 0;
    }
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (!strcmp(argv[1], g_cmds[i].name)) return g_cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "glossa: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
