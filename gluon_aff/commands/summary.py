"""Parameters and multiply-adds of gluon-aff zoo models (``gluon_aff.summary``).

    gluon-aff summary aff_resnet50            # one model at its input size
    gluon-aff summary --all                   # table over every zoo model
    gluon-aff summary --table7                # supplement Table 7, formula vs counted
"""
from ..cli import user_input


def main(argv=None):
    from .. import summary
    with user_input():  # a model name or an input size the user gave
        return summary.main(argv)
