"""``chat.realtime.internals.slots``: which names may become slots, and who reads ``__dict__``."""

from __future__ import annotations

from chat.realtime.internals import slots


def test_code_names_include_nested_functions():
    def outer(self):
        def inner():
            return self.__dict__

        return self.peer, inner

    names = slots.code_names(outer.__code__)
    assert {"peer", "__dict__"} <= names


def test_a_slot_never_hides_a_class_default_and_keep_out_stays_out():
    class Library:
        peer = "<never connected>"

    class Child(Library):
        pass

    names = slots.slot_names(Child, ["peer", "state", "timeout", "buffer"], keep_out=["timeout"])
    assert names == ("state", "buffer")


def test_dict_readers_name_the_methods_that_read_the_instance_dict():
    class Plain:
        def read(self):
            return self.value

        def __getstate__(self):
            return self.__dict__

    class Peeking(Plain):
        def peek(self):
            return vars(self)

        def dump(self):
            return dict(self.__dict__)

    assert slots.dict_readers(Peeking.__mro__) == ["Peeking.peek", "Peeking.dump"]
    assert slots.dict_readers([Plain]) == []
