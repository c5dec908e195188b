/* The C boundary between the C++ FRVT_11 implementation and the embedded Python
 * core. Plain declarations only: this file is read verbatim by the CFFI build
 * (cdef + embedding_api) and included by frvt_bridge.h for C++.
 *
 * Every function returns a bridge status. CFFI returns all-zero results when the
 * embedded interpreter failed to start, so 0 never means success:
 *   FRVTB_NOT_STARTED (0)  Python did not run (interpreter or import failure)
 *   FRVTB_OK          (1)  Python ran; the FRVT outcome is in status->code
 *   FRVTB_PY_ERROR    (2)  Python raised; status->info says what
 * status->code carries an FRVT::ReturnCode value (0..17). */

#define FRVTB_ABI_VERSION 2   /* bumped whenever a declaration here changes */
#define FRVTB_NOT_STARTED 0
#define FRVTB_OK 1
#define FRVTB_PY_ERROR 2
#define FRVTB_INFO_SIZE 512

typedef struct {
    uint16_t width;
    uint16_t height;
    uint8_t depth;          /* 24 = interleaved RGB, 8 = grey */
    int32_t description;    /* FRVT::ImageDescription */
    const uint8_t *data;    /* may be NULL */
    size_t size;            /* bytes available at data */
} frvtb_image;

typedef struct {
    uint8_t left_assigned;  /* subject's left eye */
    uint8_t right_assigned;
    uint16_t xleft;
    uint16_t yleft;
    uint16_t xright;
    uint16_t yright;
} frvtb_eyes;

typedef struct {
    int32_t code;                  /* FRVT::ReturnCode */
    char info[FRVTB_INFO_SIZE];    /* NUL-terminated reason, empty on success */
} frvtb_status;

typedef struct {
    size_t template_size;   /* bytes of every template (failure templates are shorter) */
    size_t max_faces;       /* most templates one multi-person call returns */
    uint32_t abi_version;   /* FRVTB_ABI_VERSION of the Python side */
} frvtb_limits;

/* Load the pipeline from config_dir (read only). lib_dir: folder of the library. */
int32_t frvtb_initialize(const char *config_dir, const char *lib_dir,
                         frvtb_limits *limits, frvtb_status *status);

/* One template from n_images images of one person; eyes[n_images] filled in order. */
int32_t frvtb_create_template(const frvtb_image *images, size_t n_images, int32_t role,
                              uint8_t *templ, size_t templ_capacity, size_t *templ_size,
                              frvtb_eyes *eyes, frvtb_status *status);

/* Templates of every person in one image, packed at templs + i * template_size
 * (i < max_templates); sizes[i] and eyes[i] per template; *n_templates >= 1. */
int32_t frvtb_create_multi(const frvtb_image *image, int32_t role,
                           uint8_t *templs, size_t template_size, size_t max_templates,
                           size_t *sizes, frvtb_eyes *eyes, size_t *n_templates,
                           frvtb_status *status);

/* Milliseconds per stage of the last createFaceTemplate call, as text
 * "convert=.. detect=.. align=.. embed=.. python=.." (timing tools only). */
int32_t frvtb_last_stages(char *text, size_t capacity, frvtb_status *status);
