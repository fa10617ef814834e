/* dl — an intrusive doubly linked list: the node lives inside the element
 * (no allocation per insert, O(1) unlink from anywhere), for orders kept
 * beside a lookup structure, such as enrichment's Redis cache (LRU) and the
 * sink's WebSocket clients.
 *
 *     typedef struct { ...; dl_node_t link; } client_t;
 *     dl_push_front(&list, &c->link);
 *     for (dl_node_t *n = list.head; n; n = n->next)
 *             use(DL_ENTRY(n, client_t, link));
 *
 * The list owns nothing: elements are freed by whoever allocated them,
 * after dl_unlink(). */
#ifndef WEIR_DL_H
#define WEIR_DL_H

#include <stddef.h>

typedef struct dl_node_s {
        struct dl_node_s *prev, *next; /* NULL at the ends */
} dl_node_t;

typedef struct dl_list_s {
        dl_node_t *head, *tail; /* both NULL when empty */
} dl_list_t;

/* The element holding node `n` as its member `member`. */
#define DL_ENTRY(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

void dl_push_front(dl_list_t *l, dl_node_t *n);

/* Removes `n`, which must be in `l`; its links are cleared. */
void dl_unlink(dl_list_t *l, dl_node_t *n);

#endif
