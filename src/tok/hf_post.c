#include "tok/hf_post.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tok/hf_json.h"
#include "tok/hf_model.h"

static glossa_status append(int32_t **v, size_t *n, const int32_t *ids, size_t k, bool front)
{
    if (k == 0) return GLOSSA_STATUS_OK;
    if (*n + k > 4096) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: template too long");
    int32_t *nv = malloc((*n + k) * sizeof *nv);
    if (!nv) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "post_processor");
    if (front) {
        memcpy(nv, ids, k * sizeof *nv);
        if (*n) memcpy(nv + k, *v, *n * sizeof *nv);
    } else {
        if (*n) memcpy(nv, *v, *n * sizeof *nv);
        memcpy(nv + *n, ids, k * sizeof *nv);
    }
    free(*v);
    *v = nv;
    *n += k;
    return GLOSSA_STATUS_OK;
}

/* The ids of special token `name` in a template's "special_tokens" map. */
static glossa_status special_ids(const json_t *map, const char *name, int32_t *ids, size_t *k)
{
    const json_t *e = json_object_get(map, name);
    const json_t *arr = e ? json_object_get(e, "ids") : NULL;
    if (!json_is_array(arr))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: special token \"%s\" is missing", name);
    *k = json_array_size(arr);
    if (*k > 64) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: \"%s\" has too many ids", name);
    for (size_t i = 0; i < *k; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > HF_MAX_ID)
            return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: bad id for \"%s\"", name);
        ids[i] = (int32_t)json_integer_value(v);
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status load_template(const json_t *j, hf_post *p)
{
    const char *what = "post_processor.TemplateProcessing";
    const json_t *single;
    GLOSSA_TRY(hfj_array(j, what, "single", false, &single));
    const json_t *map = json_object_get(j, "special_tokens");
    if (!json_is_object(map)) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: no special_tokens", what);
    int32_t *pre = NULL, *suf = NULL;
    size_t npre = 0, nsuf = 0;
    int seqs = 0;
    glossa_status st = GLOSSA_STATUS_OK;
    size_t i;
    const json_t *item;
    json_array_foreach(single, i, item) {
        const json_t *sp = json_object_get(item, "SpecialToken");
        const json_t *sq = json_object_get(item, "Sequence");
        if (sq) {
            const char *id;
            st = hfj_str(sq, what, "id", false, &id, NULL);
            if (st != GLOSSA_STATUS_OK) break;
            if (strcmp(id, "A") != 0) {
                st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: single template uses $%s", what, id);
                break;
            }
            seqs++;
        } else if (sp) {
            const char *id;
            st = hfj_str(sp, what, "id", false, &id, NULL);
            if (st != GLOSSA_STATUS_OK) break;
            int32_t ids[64];
            size_t k = 0;
            st = special_ids(map, id, ids, &k);
            if (st == GLOSSA_STATUS_OK) st = seqs ? append(&suf, &nsuf, ids, k, false) : append(&pre, &npre, ids, k, false);
            if (st != GLOSSA_STATUS_OK) break;
        } else {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: template item %zu is neither Sequence nor SpecialToken",
                              what, i);
            break;
        }
    }
    if (st == GLOSSA_STATUS_OK && seqs != 1)
        st = glossa_error(GLOSSA_STATUS_UNSUPPORTED, "%s: a single template with %d $A", what, seqs);
    /* A Sequence of processors applies this one after the earlier ones. */
    if (st == GLOSSA_STATUS_OK) st = append(&p->prefix, &p->n_prefix, pre, npre, true);
    if (st == GLOSSA_STATUS_OK) st = append(&p->suffix, &p->n_suffix, suf, nsuf, false);
    free(pre);
    free(suf);
    return st;
}

static glossa_status pair_id(const json_t *j, const char *what, const char *key, int32_t *id)
{
    const json_t *v = json_object_get(j, key);
    const json_t *x = json_is_array(v) && json_array_size(v) == 2 ? json_array_get(v, 1) : NULL;
    if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > HF_MAX_ID)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is not [token, id]", what, key);
    *id = (int32_t)json_integer_value(x);
    return GLOSSA_STATUS_OK;
}

static glossa_status load_one(const json_t *j, hf_post *p, int depth)
{
    const char *type;
    GLOSSA_TRY(hfj_type(j, "post_processor", &type));
    if (strcmp(type, "TemplateProcessing") == 0) return load_template(j, p);
    if (strcmp(type, "ByteLevel") == 0) return GLOSSA_STATUS_OK;
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        int32_t cls, sep;
        GLOSSA_TRY(pair_id(j, type, "cls", &cls));
        GLOSSA_TRY(pair_id(j, type, "sep", &sep));
        GLOSSA_TRY(append(&p->prefix, &p->n_prefix, &cls, 1, true));
        return append(&p->suffix, &p->n_suffix, &sep, 1, false);
    }
    if (strcmp(type, "Sequence") == 0) {
        if (depth >= HF_MAX_DEPTH) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "post_processor: nested too deep");
        const json_t *arr;
        GLOSSA_TRY(hfj_array(j, "post_processor.Sequence", "processors", false, &arr));
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) GLOSSA_TRY(load_one(v, p, depth + 1));
        return GLOSSA_STATUS_OK;
    }
    return glossa_error(GLOSSA_STATUS_UNSUPPORTED, "post_processor type \"%s\" is not supported", type);
}

glossa_status hf_post_load(const void *json, hf_post *p)
{
    memset(p, 0, sizeof *p);
    const json_t *j = json;
    if (!j || json_is_null(j)) return GLOSSA_STATUS_OK;
    glossa_status st = load_one(j, p, 0);
    if (st != GLOSSA_STATUS_OK) hf_post_free(p);
    return st;
}

void hf_post_free(hf_post *p)
{
    free(p->prefix);
    free(p->suffix);
    memset(p, 0, sizeof *p);
}
