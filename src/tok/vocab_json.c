#include "tok/vocab_json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/file.h"

glossa_status tok_vocab_json_load(const char *path, tok_vocab_json *v)
{
    memset(v, 0, sizeof *v);
    char *data = NULL;
    size_t size = 0;
    GLOSSA_TRY(file_read_all(path, TOK_VOCAB_JSON_MAX_BYTES, &data, &size));
    json_error_t err;
    json_t *root = json_loadb(data, size, 0, &err);
    free(data);
    if (!root)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: line %d: %s", path, err.line, err.text);
    glossa_status st = GLOSSA_STATUS_OK;
    if (!json_is_object(root)) {
        st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: not a JSON object", path);
        goto done;
    }
    size_t n = json_object_size(root);
    if (n > TOK_VOCAB_JSON_MAX_ID) {
        st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: %zu entries", path, n);
        goto done;
    }
    if ((st = tok_vocab_init(&v->keys, (int32_t)n)) != GLOSSA_STATUS_OK) goto done;
    v->key_id = malloc((n ? n : 1) * sizeof *v->key_id);
    if (!v->key_id) {
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s", path);
        goto done;
    }
    const char *key;
    json_t *val;
    int32_t i = 0, max_id = -1;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) >= TOK_VOCAB_JSON_MAX_ID) {
            st = glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: the id of \"%.40s\" is not an integer in 0..%d",
                              path, key, TOK_VOCAB_JSON_MAX_ID - 1);
            goto done;
        }
        int32_t id = (int32_t)json_integer_value(val);
        if ((st = tok_vocab_set(&v->keys, i, key, strlen(key), 0.0f, TOK_PIECE_NORMAL)) != GLOSSA_STATUS_OK)
            goto done;
        v->key_id[i++] = id;
        if (id > max_id) max_id = id;
    }
    if ((st = tok_vocab_build_index(&v->keys, 0)) != GLOSSA_STATUS_OK) goto done;
    v->n_ids = max_id + 1;
    v->dec = malloc((v->n_ids ? (size_t)v->n_ids : 1) * sizeof *v->dec);
    if (!v->dec) {
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s", path);
        goto done;
    }
    for (int32_t k = 0; k < v->n_ids; k++) v->dec[k] = -1;
    for (int32_t k = 0; k < i; k++) v->dec[v->key_id[k]] = k;
done:
    json_decref(root);
    if (st != GLOSSA_STATUS_OK) tok_vocab_json_free(v);
    return st;
}

void tok_vocab_json_free(tok_vocab_json *v)
{
    tok_vocab_free(&v->keys);
    free(v->key_id);
    free(v->dec);
    memset(v, 0, sizeof *v);
}

int32_t tok_vocab_json_find(const tok_vocab_json *v, const char *s, size_t len)
{
    int32_t k = tok_vocab_find(&v->keys, s, len);
    return k < 0 ? -1 : v->key_id[k];
}

const char *tok_vocab_json_key(const tok_vocab_json *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n_ids || v->dec[id] < 0) return NULL;
    int32_t k = v->dec[id];
    if (len) *len = v->keys.piece_len[k];
    return v->keys.piece[k];
}
