/* The built-in language identifier: accuracy on the held-out lines of tests/fixtures/langid
 * (written by tools/langid/make_profiles.py, never used for training), bad input, thread safety,
 * and a throughput figure. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "glossa.h"
#include "langid/profiles.h"
#include "langid/text.h"
#include "test.h"

#define MAX_ROWS  8000
#define N_THREADS 4

typedef struct row {
    char lang[8];
    char *text;
    size_t len;
    const char *got;
} row;

static row rows[MAX_ROWS];
static size_t n_rows;
static const char *const want_langs[] = {"en", "de", "fr", "cs", "am", "ar", "bn", "el",
                                         "es", "he", "hi", "ja", "ka", "ko", "ne", "ru",
                                         "sw", "th", "tr", "uk", "vi", "zh"};
#define N_WANT (sizeof want_langs / sizeof want_langs[0])

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void load_rows(void)
{
    FILE *f = fopen(GLOSSA_FIXTURES "/langid/heldout.tsv", "rb");
    CHECK(f != NULL);
    if (!f) return;
    char line[65536];
    while (n_rows < MAX_ROWS && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab || (size_t)(tab - line) >= sizeof rows[0].lang) continue;
        row *r = &rows[n_rows++];
        memcpy(r->lang, line, (size_t)(tab - line));
        r->lang[tab - line] = '\0';
        r->len = len - (size_t)(tab + 1 - line);
        r->text = malloc(r->len + 1);
        memcpy(r->text, tab + 1, r->len + 1);
    }
    fclose(f);
}

static void test_languages(const glossa_langid *l)
{
    CHECK(glossa_langid_count(l) >= N_WANT);
    for (size_t w = 0; w < N_WANT; w++) {
        bool found = false;
        for (size_t i = 0; i < glossa_langid_count(l); i++)
            found |= strcmp(glossa_langid_lang_at(l, i), want_langs[w]) == 0;
        CHECK_MSG(found, "%s missing", want_langs[w]);
    }
    CHECK(glossa_langid_lang_at(l, glossa_langid_count(l)) == NULL);
    CHECK(glossa_langid_count(NULL) == 0);
}

static void test_accuracy(const glossa_langid *l)
{
    size_t ok_all = 0, per_ok[N_WANT] = {0}, per_n[N_WANT] = {0};
    double conf_sum = 0.0;
    for (size_t i = 0; i < n_rows; i++) {
        float conf = -1.0f;
        CHECK_OK(glossa_langid_detect(l, rows[i].text, rows[i].len, &rows[i].got, &conf));
        CHECK(conf >= 0.0f && conf <= 1.0f);
        conf_sum += conf;
    }
    for (size_t i = 0; i < n_rows; i++) {
        bool hit = rows[i].got && strcmp(rows[i].got, rows[i].lang) == 0;
        ok_all += hit;
        for (size_t w = 0; w < N_WANT; w++) {
            if (strcmp(rows[i].lang, want_langs[w]) == 0) {
                per_n[w]++;
                per_ok[w] += hit;
            }
        }
    }
    printf("held-out accuracy per language:\n");
    for (size_t w = 0; w < N_WANT; w++) {
        double acc = per_n[w] ? 100.0 * (double)per_ok[w] / (double)per_n[w] : 0.0;
        printf("  %s: %zu/%zu = %.1f%%%s\n", want_langs[w], per_ok[w], per_n[w], acc,
               per_n[w] && acc < 90.0 ? "  (below 90%)" : "");
        CHECK_MSG(per_n[w] > 0, "no held-out lines for %s", want_langs[w]);
        /* every language with enough lines to measure must reach 90% */
        if (per_n[w] >= 20) CHECK_MSG(acc >= 90.0, "%s: %.1f%%", want_langs[w], acc);
    }
    double acc = n_rows ? 100.0 * (double)ok_all / (double)n_rows : 0.0;
    printf("overall: %zu/%zu = %.2f%%, mean confidence %.3f\n", ok_all, n_rows, acc,
           n_rows ? conf_sum / (double)n_rows : 0.0);
    CHECK(n_rows >= 1000);
    CHECK_MSG(acc >= 95.0, "overall accuracy %.2f%%", acc);
}

/* The byte length of the first n code points of s[0..len). */
static size_t prefix_len(const char *s, size_t len, size_t n)
{
    size_t i = 0;
    for (size_t k = 0; k < n && i < len; k++) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Short inputs: the first 20 characters of each held-out line (a harder, informative figure). */
static void test_prefixes(const glossa_langid *l)
{
    size_t ok = 0, n = 0;
    for (size_t i = 0; i < n_rows; i++) {
        const char *got = NULL;
        float conf;
        size_t len = prefix_len(rows[i].text, rows[i].len, 20);
        if (glossa_langid_detect(l, rows[i].text, len, &got, &conf) != GLOSSA_STATUS_OK) continue;
        n++;
        ok += strcmp(got, rows[i].lang) == 0;
    }
    double acc = n ? 100.0 * (double)ok / (double)n : 0.0;
    printf("first 20 characters of each line: %zu/%zu = %.2f%%\n", ok, n, acc);
    CHECK_MSG(acc >= 90.0, "20-character prefixes: %.2f%%", acc);
}

/* The best of three passes over the held-out lines (one thread). */
static void test_throughput(const glossa_langid *l)
{
    double best = 1e30;
    size_t bytes = 0;
    for (int pass = 0; pass < 3; pass++) {
        bytes = 0;
        double t0 = now_s();
        for (size_t i = 0; i < n_rows; i++) {
            const char *got;
            float conf;
            glossa_langid_detect(l, rows[i].text, rows[i].len, &got, &conf);
            bytes += rows[i].len;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    if (n_rows == 0 || best <= 0.0) return;
    printf("throughput: %.0f lines/s, %.2f us/line, %.1f MB/s (%zu lines, %zu bytes)\n",
           (double)n_rows / best, 1e6 * best / (double)n_rows, (double)bytes / best / 1e6, n_rows,
           bytes);
}

static void expect(const glossa_langid *l, const char *text, const char *want)
{
    const char *got = NULL;
    float conf = 0.0f;
    CHECK_OK(glossa_langid_detect(l, text, strlen(text), &got, &conf));
    CHECK_MSG(got && strcmp(got, want) == 0, "\"%s\": got %s (%.3f), want %s", text,
              got ? got : "(null)", (double)conf, want);
}

static void test_examples(const glossa_langid *l)
{
    expect(l, "The quick brown fox jumps over the lazy dog.", "en");
    expect(l, "Der schnelle braune Fuchs springt über den faulen Hund.", "de");
    expect(l, "Le renard brun rapide saute par-dessus le chien paresseux.", "fr");
    expect(l, "Příliš žluťoučký kůň úpěl ďábelské ódy.", "cs");
    expect(l, "El rápido zorro marrón salta sobre el perro perezoso.", "es");
    expect(l, "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.", "tr");
    expect(l, "Con cáo nâu nhanh nhẹn nhảy qua con chó lười biếng.", "vi");
    expect(l, "Watoto wanacheza mpira uwanjani baada ya shule.", "sw");
    expect(l, "Быстрая коричневая лиса прыгает через ленивую собаку.", "ru");
    expect(l, "Швидка коричнева лисиця перестрибує через лінивого пса.", "uk");
    expect(l, "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.", "el");
    expect(l, "השועל החום המהיר קופץ מעל הכלב העצלן.", "he");
    expect(l, "الثعلب البني السريع يقفز فوق الكلب الكسول.", "ar");
    expect(l, "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।", "hi");
    expect(l, "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর দিয়ে লাফ দেয়।", "bn");
    expect(l, "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ", "th");
    expect(l, "სწრაფი ყავისფერი მელა ხტება ზარმაც ძაღლზე.", "ka");
    expect(l, "ፈጣኑ ቡናማ ቀበሮ በሰነፉ ውሻ ላይ ዘለለ።", "am");
    expect(l, "빠른 갈색 여우가 게으른 개를 뛰어넘습니다.", "ko");
    expect(l, "素早い茶色の狐がのろまな犬を飛び越える。", "ja");
    expect(l, "敏捷的棕色狐狸跳过了懒狗。", "zh");
    expect(l, "谢谢", "zh");
    /* NFD input (decomposed accents, Hangul jamo) reads as its NFC form */
    expect(l,
           "Der schnelle braune Fuchs springt u\xcc\x88"
           "ber den faulen Hund.",
           "de");
    expect(l,
           "\xe1\x84\x88\xe1\x85\xa1\xe1\x84\x85\xe1\x85\xb3\xe1\x86\xab "
           "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xaf\xe1\x84\x89\xe1\x85\xa2\xe1\x86\xa8",
           "ko");
    /* placeholders and an English product name inside a translation */
    expect(l, "%s: ファイル '%s' を開けません: %s", "ja");
    expect(l, "PostScript फ़ाइल को सहेजा नहीं जा सका", "hi");
}

static void test_bad_input(const glossa_langid *l)
{
    const char *got = "x";
    float conf = 0.5f;
    CHECK_STATUS(glossa_langid_detect(l, "", 0, &got, &conf), GLOSSA_STATUS_BAD_INPUT);
    CHECK(got == NULL && conf == 0.0f);
    CHECK_STATUS(glossa_langid_detect(l, NULL, 0, &got, &conf), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_langid_detect(l, "12345 67.89 !!! ??? -- ()", 25, &got, &conf),
                 GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_langid_detect(l, "%s: %d %%", 9, &got, &conf), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_langid_detect(l, "   \t\n ", 6, &got, &conf), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_langid_detect(l, "\xff\xfe\xc0\x80\xed\xa0\x80", 7, &got, &conf),
                 GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_langid_detect(NULL, "abc", 3, &got, &conf), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(glossa_langid_detect(l, NULL, 3, &got, &conf), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(glossa_langid_detect(l, "abc", 3, NULL, &conf), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(glossa_langid_detect(l, "abc", 3, &got, NULL), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(glossa_langid_create(NULL), GLOSSA_STATUS_INVALID_ARGUMENT);

    /* invalid bytes are skipped; NUL bytes are boundaries */
    static const char bad[] = "Die Datei \xff\xfe konnte nicht ge\xc3\xb6\xff"
                              "ffnet werden, weil \x80";
    CHECK_OK(glossa_langid_detect(l, bad, sizeof bad - 1, &got, &conf));
    CHECK(got && strcmp(got, "de") == 0);
    static const char nul[] = "This\0file\0could\0not\0be\0opened\0because\0it\0is\0locked";
    CHECK_OK(glossa_langid_detect(l, nul, sizeof nul - 1, &got, &conf));
    CHECK(got && strcmp(got, "en") == 0);
    CHECK_OK(glossa_langid_detect(l, "x", 1, &got, &conf));
    CHECK(conf >= 0.0f && conf <= 1.0f);
    /* letters of no known script (Armenian): some answer with a low confidence */
    CHECK_OK(glossa_langid_detect(l, "Բարև ձեզ", strlen("Բարև ձեզ"), &got, &conf));
    CHECK(conf < 0.5f);

    /* 1 MB: the first LANGID_MAX_CHARS code points are read */
    size_t big = 1u << 20;
    char *s = malloc(big);
    static const char phrase[] = "Ceci est une phrase en fran\xc3\xa7"
                                 "ais. ";
    for (size_t i = 0; i < big; i++)
        s[i] = phrase[i % (sizeof phrase - 1)];
    double t0 = now_s();
    CHECK_OK(glossa_langid_detect(l, s, big, &got, &conf));
    printf("1 MB text: %.1f us\n", 1e6 * (now_s() - t0));
    CHECK(got && strcmp(got, "fr") == 0);
    unsigned x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        s[i] = (char)(x >> 16);
    }
    glossa_status st = glossa_langid_detect(l, s, big, &got, &conf);
    CHECK(st == GLOSSA_STATUS_OK || st == GLOSSA_STATUS_BAD_INPUT);
    CHECK(conf >= 0.0f && conf <= 1.0f);
    memset(s, 0, big);
    CHECK_STATUS(glossa_langid_detect(l, s, big, &got, &conf), GLOSSA_STATUS_BAD_INPUT);
    free(s);
}

static void test_text_model(void)
{
    uint32_t cps[] = {'a', '%', 's', 'b', '%', '%', 'c', '%', '1', '$',
                      '-', '1', '0', 'l', 'u', 'd', '%', 'l', ' ', '%'};
    size_t n = langid_strip_placeholders(cps, sizeof cps / sizeof cps[0]);
    uint32_t want[] = {'a', ' ', 'b', ' ', 'c', ' ', 'd', ' ', ' ', '%'};
    CHECK(n == sizeof want / sizeof want[0] && memcmp(cps, want, sizeof want) == 0);
    langid_text t;
    langid_text_prepare("Hello, WORLD 42x", 16, &t);
    uint32_t seq[] = {' ', 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', ' ', 'x', ' '};
    CHECK(t.n == sizeof seq / sizeof seq[0] && memcmp(t.seq, seq, sizeof seq) == 0);
    CHECK(t.letters == 11 && t.scripts[LANGID_SCRIPT_LATIN] == 11);
    CHECK(langid_script_of(0x4E2D) == LANGID_SCRIPT_HAN);
    CHECK(langid_script_of(0x30AB) == LANGID_SCRIPT_KANA);
    CHECK(langid_script_of(0x0531) == LANGID_SCRIPT_OTHER);
}

typedef struct worker {
    const glossa_langid *l;
    size_t mismatches, start;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (size_t k = 0; k < n_rows; k++) {
        size_t i = (w->start + k) % n_rows;
        const char *got = NULL;
        float conf;
        if (glossa_langid_detect(w->l, rows[i].text, rows[i].len, &got, &conf) !=
                GLOSSA_STATUS_OK ||
            got != rows[i].got)
            w->mismatches++;
    }
    return NULL;
}

static void test_threads(const glossa_langid *l)
{
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){l, 0, (size_t)i * n_rows / N_THREADS};
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(w[i].mismatches == 0, "thread %d: %zu answers differ", i, w[i].mismatches);
    }
}

int main(void)
{
    glossa_langid *l = NULL;
    double t0 = now_s();
    CHECK_OK(glossa_langid_create(&l));
    printf("create: %.2f ms\n", 1e3 * (now_s() - t0));
    if (!l) TEST_MAIN_END();
    load_rows();
    test_languages(l);
    test_text_model();
    test_accuracy(l);
    test_prefixes(l);
    test_examples(l);
    test_bad_input(l);
    test_threads(l);
    test_throughput(l);
    glossa_langid_free(l);
    glossa_langid_free(NULL);
    for (size_t i = 0; i < n_rows; i++)
        free(rows[i].text);
    TEST_MAIN_END();
}
