/* Models are data: a model is process areas -> goals (specific and
 * generic) -> practices, with provenance (confirmed or not) on every
 * element, and cross-references (the crosswalk) from practices and from
 * whole process areas to practices or whole process areas of other models
 * and to codes of practice, each saying whether a source confirms it. This
 * module holds the in-memory form shared by the file formats (YAML, JSON,
 * OSCAL catalog), the validator, the writers and the protobuf conversion.
 * docs/models.md describes the file format.
 *
 * Identifiers: a practice's full id is "PA:GOAL.PRACTICE", e.g.
 * "ADM:SG1.SP1", "SC:GG2.GP6", "IRP:SG1.SP1.1", "SM:ESG1.ESP1.2". Inside
 * the structures ids are local ("ADM", "SG1", "SP1"). */
#ifndef OPRA_MODEL_H
#define OPRA_MODEL_H

#include "opra_buf.h"

#include <stddef.h>

/* Limits enforced by model_validate (and so on every import path). */
#define MODEL_FILE_MAX	    (16u * 1024 * 1024)
#define MODEL_ID_MAX	    32	  /* model, PA, goal, practice local ids */
#define MODEL_KEY_MAX	    64	  /* model id such as "cert-rmm-1.2" */
#define MODEL_NAME_MAX	    256	  /* names and titles */
#define MODEL_TEXT_MAX	    16384 /* purpose, statement, one subpractice, notes */
#define MODEL_MAX_PAS	    1000
#define MODEL_MAX_GOALS	    100	 /* per process area */
#define MODEL_MAX_PRACTICES 2000 /* per goal */
#define MODEL_MAX_LIST                                                                             \
	500 /* subpractices, work products, refs per practice;                                     \
	     * refs per process area */

typedef struct {
	int confirmed; /* 1: seen in a source; 0: unconfirmed (shown to users) */
	char *sources; /* free text: where it was seen; may be NULL */
	char *note;    /* free text; may be NULL */
} model_provenance;

/* A cross-reference (one crosswalk entry) from a practice or from a whole
 * process area. Exactly one kind is set, the other kinds' fields are NULL:
 * - to a practice of another (or the same) model: model + practice
 *   (full id), e.g. {"cert-rmm-1.2", "IMC:SG2.SP1"};
 * - to a whole process area of another (or the same) model: model +
 *   process_area (a PA id), e.g. {"cert-rmm-1.2", "IMC"}, for mappings
 *   that exist only at process area level;
 * - to a code of practice: code + ref, e.g. {"ISO 27001", "A.16.1.1"}.
 * note is optional on every kind. confirmed tells users how firm the
 * mapping is: the readers set 1 unless the file says "confirmed: false";
 * code that builds a model in memory must set it (calloc gives 0). */
typedef struct {
	char *model;
	char *practice;
	char *process_area; /* a PA id, e.g. "IMC" */
	char *code;
	char *ref;
	char *note;    /* may be NULL */
	int confirmed; /* 1: seen in a source; 0: unconfirmed (shown to users) */
	int line;
} model_ref;

typedef struct {
	char *id; /* local: "SP1", "SP1.1", "GP6", "ESP1.2", "AC-2" */
	char *title;
	char *statement; /* may be NULL */
	char **subpractices;
	size_t n_subpractices;
	char **work_products; /* typical work products */
	size_t n_work_products;
	model_ref *refs;
	size_t n_refs;
	model_provenance prov;
	int line; /* line in the source file, 0 when unknown */
} model_practice;

typedef struct {
	char *id; /* "SG1", "GG2", "ESG1" */
	char *title;
	int generic; /* 1 for generic goals (GG1..GG3) */
	model_practice *practices;
	size_t n_practices;
	model_provenance prov;
	int line;
} model_goal;

typedef struct {
	char *id;	   /* "ADM" */
	char *name;	   /* "Asset Definition and Management" */
	char *category;	   /* lower-case key, e.g. "engineering" */
	char *purpose;	   /* may be NULL */
	model_goal *goals; /* specific goals first, then generic goals */
	size_t n_goals;
	model_ref *refs; /* references of the whole process area; may be NULL */
	size_t n_refs;
	model_provenance prov;
	int line;
} model_pa;

typedef struct {
	char *id; /* "cert-rmm-1.2": unique key, [a-z0-9][a-z0-9.-]* */
	char *name;
	char *short_name; /* may be NULL */
	char *version;
	char *publisher;   /* may be NULL */
	char *description; /* may be NULL */
	char *origin;	   /* file name or "<wire>", for error messages; not exported */
	model_provenance prov;
	model_pa *pas;
	size_t n_pas;
} model;

/* Frees everything; NULL-safe. */
void model_free(model *m);

/* Reads a model file. format: "opra" (YAML or JSON, told apart by content),
 * "oscal-catalog", or NULL to guess from the content. Refuses files over
 * MODEL_FILE_MAX before reading them whole. Errors (INVALID_ARGUMENT,
 * NOT_FOUND, PERMISSION_DENIED) name the file, the line where known, and
 * the element path ("process area ADM, goal SG1, practice SP9"). On success
 * the model has passed model_validate. Caller frees with model_free. */
int model_load_file(model **out, const char *path, const char *format);
/* The same on text in memory; origin names it in messages. */
int model_parse(model **out, const char *origin, const char *text, size_t len, const char *format);
/* Reads an OSCAL catalog (JSON) as a model (common/model_oscal.c); called by
 * model_parse for format "oscal-catalog" and for JSON with a top-level
 * "catalog" key when the format is guessed. model_parse validates the
 * result. Caller frees with model_free. */
int model_parse_oscal_catalog(model **out, const char *origin, const char *text, size_t len);

/* Checks ids (pattern, uniqueness at each level), lengths, limits,
 * required fields, categories and references (exactly one kind, well
 * formed; a reference to a practice or a process area of the same model
 * must exist). Messages start with "ORIGIN:LINE: " when the line is
 * known. */
int model_validate(const model *m);

/* Writes the model in the opra format (docs/models.md); appends to out.
 * Reading the output back gives an equal model (model_equal). */
int model_write_yaml(const model *m, opra_buf *out);
int model_write_json(const model *m, opra_buf *out);

/* Deep comparison of content (ignores origin and line numbers). */
int model_equal(const model *a, const model *b);

/* Counts for summaries. */
size_t model_count_practices(const model *m);

#endif
