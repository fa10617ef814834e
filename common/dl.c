/* dl — see dl.h. */
#include "dl.h"

void dl_push_front(dl_list_t *l, dl_node_t *n) {
        n->prev = NULL;
        n->next = l->head;
        if (l->head)
                l->head->prev = n;
        else
                l->tail = n;
        l->head = n;
}

void dl_unlink(dl_list_t *l, dl_node_t *n) {
        if (n->prev)
                n->prev->next = n->next;
        else
                l->head = n->next;
        if (n->next)
                n->next->prev = n->prev;
        else
                l->tail = n->prev;
        n->prev = n->next = NULL;
}
