#include "tok/hf_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"

glossa_status hfj_type(const json_t *obj, const char *what, const char **type)
{
    if (!json_is_object(obj))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: expected an object", what);
    const json_t *t = json_object_get(obj, "type");
    if (!json_is_string(t))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: missing \"type\" string", what);
    *type = json_string_value(t);
    return GLOSSA_STATUS_OK;
}

glossa_status hfj_bool(const json_t *obj, const char *what, const char *key, bool def, bool *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return GLOSSA_STATUS_OK;
    }
    if (!json_is_boolean(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is not a boolean", what, key);
    *out = json_is_true(v);
    return GLOSSA_STATUS_OK;
}

glossa_status hfj_int(const json_t *obj, const char *what, const char *key, long long def,
                      long long lo, long long hi, long long *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return GLOSSA_STATUS_OK;
    }
    if (!json_is_integer(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is not an integer", what, key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" = %lld is out of range [%lld, %lld]",
                            what, key, x, lo, hi);
    *out = x;
    return GLOSSA_STATUS_OK;
}

glossa_status hfj_str(const json_t *obj, const char *what, const char *key, bool optional,
                      const char **s, size_t *len)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *s = NULL;
        if (len) *len = 0;
        if (optional) return GLOSSA_STATUS_OK;
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: missing \"%s\"", what, key);
    }
    if (!json_is_string(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is not a string", what, key);
    *s = json_string_value(v);
    if (len) *len = json_string_length(v);
    return GLOSSA_STATUS_OK;
}

glossa_status hfj_array(const json_t *obj, const char *what, const char *key, bool optional,
                        const json_t **arr)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *arr = NULL;
        if (optional) return GLOSSA_STATUS_OK;
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: missing \"%s\"", what, key);
    }
    if (!json_is_array(v))
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" is not an array", what, key);
    *arr = v;
    return GLOSSA_STATUS_OK;
}

bool hfj_number(const json_t *v, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return isfinite(*out);
    }
    return false;
}

glossa_status hfj_char(const json_t *obj, const char *what, const char *key, const char *def,
                       char out[5])
{
    const char *s;
    size_t len;
    GLOSSA_TRY(hfj_str(obj, what, key, def != NULL, &s, &len));
    if (!s) {
        s = def;
        len = strlen(def);
    }
    size_t mb = 0;
    if (len == 0 || !utf8_is_valid_at(s, len, &mb) || mb != len)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: \"%s\" must be exactly one character",
                            what, key);
    memcpy(out, s, len);
    out[len] = '\0';
    return GLOSSA_STATUS_OK;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

glossa_status hfj_base64(const char *s, size_t len, const char *what, unsigned char **out,
                         size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4 != 0)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: base64 length %zu is not a multiple of 4",
                            what, len);
    size_t pad = 0;
    if (len >= 1 && s[len - 1] == '=') pad++;
    if (len >= 2 && s[len - 2] == '=') pad++;
    size_t n = len / 4 * 3 - pad;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "%s: %zu bytes", what, n);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            bool last_quad = i + 4 == len;
            if (c == '=' && last_quad && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0) {
                free(buf);
                return glossa_error(GLOSSA_STATUS_BAD_MODEL, "%s: invalid base64 at byte %zu", what,
                                    i + (size_t)k);
            }
        }
        uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char b[3] = {(unsigned char)(q >> 16), (unsigned char)(q >> 8), (unsigned char)q};
        for (int k = 0; k < 3 && o < n; k++) buf[o++] = b[k];
    }
    *out = buf;
    *out_len = n;
    return GLOSSA_STATUS_OK;
}
