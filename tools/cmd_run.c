/* gp-p11 run FILE: a step list, one gp-p11 command per line, run in order
 * under one keystore login and one secure channel; it stops at the first
 * failure, and every step finished is reported (gp-p11(1), STEP LISTS). */
#include "config.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEPS_MAX 256
#define WORDS_MAX 64

/* Options that belong to the whole run, not to a step. */
typedef struct {
    const char *module_path, *token_uri, *reader, *pin_file, *trace_file;
    int json, verbose;
} globals_t;

static void keep(const tool_t *t, globals_t *g)
{
    *g = (globals_t){t->module_path, t->token_uri, t->reader, t->pin_file, t->trace_file, t->json,
                     t->verbose};
}

static int same(const globals_t *a, const globals_t *b)
{
    return a->module_path == b->module_path && a->token_uri == b->token_uri &&
           a->reader == b->reader && a->pin_file == b->pin_file && a->json == b->json &&
           a->verbose == b->verbose && a->trace_file == b->trace_file;
}

/* One step: its words into argv (argv[0] the program), 0 or -1 (too many). */
static int split(char *line, char **argv, int *argc)
{
    int n = 0;
    argv[n++] = "gp-p11";
    for (char *save = NULL, *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n >= WORDS_MAX)
            return -1;
        argv[n++] = w;
    }
    *argc = n;
    return 0;
}

int cmd_run(tool_t *t, int argc, char **argv)
{
    t->command = "run";
    if (argc != 1)
        return tool_fail(t, EX_USAGE, "run FILE: a step list, one gp-p11 command per line (- : "
                                      "standard input)");
    if (t->o.given & ~(OPT_LOGIN | OPT_EACH_CARD | OPT_CARDS))
        return tool_fail(t, EX_USAGE, "run takes the global options and the login's choices "
                                      "before it; each step's own options go on its line");
    if ((t->o.given & OPT_CARDS) && !t->o.each_card)
        return tool_fail(t, EX_USAGE, "--cards N belongs to run --each-card");
    if (t->o.each_card)
        return cmd_run_each_card(t, argv[0]);
    int from_stdin = !strcmp(argv[0], "-");
    if (from_stdin && t->pin_file && !strcmp(t->pin_file, "-"))
        return tool_fail(t, EX_USAGE, "the steps come from standard input, so the PIN cannot: "
                                      "use --pin-file FILE or the prompt");
    FILE *f = from_stdin ? stdin : fopen(argv[0], "r");
    if (!f)
        return tool_fail(t, EX_USAGE, "run %s: cannot read it", argv[0]);
    if (from_stdin)
        t->stdin_taken = 1;
    char *lines[STEPS_MAX];
    int lineno[STEPS_MAX], n = 0, code = EX_OK;
    char buf[4096];
    for (int l = 1; fgets(buf, sizeof buf, f); l++) {
        if (!strchr(buf, '\n') && !feof(f)) {
            code = tool_fail(t, EX_USAGE, "run %s: line %d is longer than %zu characters (data "
                                          "that long: store-data --file)", argv[0], l,
                             sizeof buf - 2);
            break;
        }
        char *p = tool_line_text(buf);
        if (!*p)
            continue;
        if (n == STEPS_MAX) {
            code = tool_fail(t, EX_USAGE, "run %s: more than %d steps", argv[0], STEPS_MAX);
            break;
        }
        lineno[n] = l;
        lines[n++] = strdup(p);
    }
    if (!from_stdin)
        fclose(f);
    if (code == EX_OK && n == 0)
        code = tool_fail(t, EX_USAGE, "run %s: no step in it", argv[0]);
    if (code != EX_OK) { /* nothing run */
        for (int i = 0; i < n; i++)
            free(lines[i]);
        return code;
    }
    globals_t before, after;
    keep(t, &before);
    const char *cmd0 = t->command;
    int done = 0, failed = 0;
    json_arr(&t->j, "steps");
    int last = 0; /* the step under way when a held signal came */
    for (int i = 0; i < n && code == EX_OK && !t->interrupted; i++) {
        last = i;
        char text[4096], *words[WORDS_MAX];
        int wc = 0;
        snprintf(text, sizeof text, "%s", lines[i]);
        json_obj(&t->j, NULL);
        json_str(&t->j, "step", lines[i]);
        json_int(&t->j, "line", lineno[i]);
        int floor = t->j.floor;
        t->j.floor = t->j.depth; /* a step's failure stays in its own object */
        if (!t->json)
            printf("== %s\n", lines[i]);
        memset(&t->o, 0, sizeof t->o);
        t->no_login = t->yes = 0; /* a step's own, never the step before's */
        if (split(text, words, &wc) != 0) {
            code = tool_fail(t, EX_USAGE, "line %d: more than %d words", lineno[i], WORDS_MAX - 1);
        } else if ((code = gp_parse_args(t, wc, words)) == EX_OK) {
            keep(t, &after);
            if (t->o.given & OPT_LOGIN) {
                code = tool_fail(t, EX_USAGE, "line %d: --key-set, --key-version, --level, --scp, "
                                              "--diversification and --isd choose the one login "
                                              "of the run: they go before run", lineno[i]);
            } else if (!same(&before, &after)) {
                code = tool_fail(t, EX_USAGE, "line %d: --module, --token, --reader, --pin-file, "
                                              "--json, --verbose and --trace-file go before run, for "
                                              "every step",
                                 lineno[i]);
            } else if (optind < wc && !strcmp(words[optind], "run")) {
                code = tool_fail(t, EX_USAGE, "line %d: a step list does not run another", lineno[i]);
            } else if (optind < wc && !strcmp(words[optind], "apdu") && optind + 1 == wc) {
                code = tool_fail(t, EX_USAGE, "line %d: apdu in a step list takes its APDUs on the "
                                              "line", lineno[i]);
            } else {
                if (optind < wc)
                    json_str(&t->j, "command", words[optind]);
                code = gp_run_command(t, wc, words);
            }
        }
        t->command = cmd0;
        tool_module_said(t);
        json_end_all(&t->j); /* what the step left open, down to its object */
        json_bool(&t->j, "ok", code == EX_OK);
        json_int(&t->j, "exit", code);
        t->j.floor = floor;
        json_end(&t->j, '}');
        if (!t->json)
            fflush(stdout);
        if (code == EX_OK)
            done++;
        else
            failed = i + 1;
    }
    json_end(&t->j, ']');
    json_int(&t->j, "done", done);
    int total = n;
    for (int i = 0; i < n; i++)
        free(lines[i]);
    if (failed) {
        char said[128] = "";
        if (done == 1)
            snprintf(said, sizeof said, "; the one before it is done");
        else if (done > 1)
            snprintf(said, sizeof said, "; the %d before it are done", done);
        if (failed < total)
            snprintf(said + strlen(said), sizeof said - strlen(said), "%snone after it was tried",
                     done ? ", " : "; ");
        return tool_fail(t, code, "run: step %d of %d (line %d) failed%s", failed, total,
                         lineno[failed - 1], said);
    }
    if (t->interrupted && last + 1 < total) /* the step under way was let finish (tool_hold) */
        return tool_fail(t, 128 + t->interrupted, "run: stopped by %s after step %d of %d (line "
                                                  "%d), which is done; none after it was tried",
                         strsignal(t->interrupted), last + 1, total, lineno[last]);
    return code;
}
