/* list.h — intrusive doubly linked lists (a node lives inside the object
 * it links, so queueing and unqueueing never allocate). */
#ifndef NIMBUS_LIST_H
#define NIMBUS_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct list_node {
    struct list_node *prev, *next;
} list_node_t;

/* A list is a sentinel node; an empty list points at itself. */
static inline void list_init(list_node_t *l) { l->prev = l->next = l; }
static inline bool list_empty(const list_node_t *l) { return l->next == l; }
/* A node not in any list has NULL links (zero-initialised objects). */
static inline bool list_linked(const list_node_t *n) { return n->next != NULL; }

static inline void list_push_back(list_node_t *l, list_node_t *n)
{
    n->prev = l->prev;
    n->next = l;
    l->prev->next = n;
    l->prev = n;
}

static inline void list_push_front(list_node_t *l, list_node_t *n)
{
    n->next = l->next;
    n->prev = l;
    l->next->prev = n;
    l->next = n;
}

static inline void list_remove(list_node_t *n)
{
    if (!n->next) return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

static inline list_node_t *list_first(const list_node_t *l) { return list_empty(l) ? NULL : l->next; }

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_each(pos, l) for (list_node_t *pos = (l)->next, *pos##_nx = pos->next; pos != (l); pos = pos##_nx, pos##_nx = pos->next)

#endif
