"""The problem suite (``analytic.problem_suite``): its split is fixed, it spans what the issue
asks for (computed from the mixtures, not from tags), and every problem's exact score is the
gradient of its exact log-density."""
import math

import pytest
import torch

from sde_diffusion.analytic import SuiteProblem, problem_suite, suite_problem, suite_split
from sde_diffusion.analytic.suite import (FRESH, FRESH2, FRESH3, FRESH4, FRESH5, FRESH6, FRESH7, FRESH8, FRESH9,
                                          FRESH10, FRESH11, FRESH12, FRESH13, FRESH14, FRESH15,
                                          FRESH16, FRESH17, FRESH18, FRESH19, FRESH20, FRESH21, FRESH22,
                                          FRESH23, FRESH24, FRESH25, FRESH26, FRESH27, FRESH28, FRESH29, FRESH30,
                                          FRESH31, FRESH32, FRESH33, FRESH34, FRESH35, FRESH36, FRESH37, FRESH38, FRESH39,
                                          FRESH40, FRESH41, FRESH42, FRESH43, FRESH44, FRESH45, FRESH46, FRESH47,
                                          HOLDOUT,
                                          SPLIT_SEED, SUITE, TUNING_ADDITIONS)
from sde_diffusion.sdes import EDMSDE, VPSDE

SPLIT_TUNING = ["aniso_gauss64", "clusters1d", "diag256", "full32", "full8_cond2000", "grid25",
                "modes100_2d", "modes50_32d", "modes64_8d", "unequal_2d"]
ADDED_LOW_RANK = ["lowrank128_r12", "lowrank32_r4", "lowrank48_floor"]
ADDED_RINGS = ["ring12_sharp", "ring7_sharp"]
ADDED = ADDED_LOW_RANK + ADDED_RINGS
TUNING = sorted(SPLIT_TUNING + ADDED)
VALIDATION = ["lowrank256", "lowrank64", "mix16", "mix16_10", "multiscale_line", "outlier_16d",
              "outlier_1d", "ring8", "ring8_sharp", "two_scales_1d"]
RESERVED = ["diag128", "full16_cond500", "lowrank96_r6", "modes20_64d", "modes80_4d", "outlier_8d",
            "ring6_sharp", "three_scales_1d", "unequal_3d"]
FRESH_NAMES = ["diag64_sharp", "four_scales_1d", "full24_cond1000", "lowrank160_r10", "modes150_2d",
               "modes60_16d", "outlier_32d", "ring10_sharp", "unequal_5d"]
FRESH3_NAMES = ["diag96_sharp", "full20_cond1500", "lowrank144_r7", "modes110_6d", "modes30_48d",
                "outlier_24d", "ring9_sharp", "six_scales_1d", "unequal_8d"]
FRESH4_NAMES = ["diag112_sharp", "full28_cond2500", "lowrank176_r9", "modes130_3d", "modes25_80d",
                "outlier_12d", "ring11_sharp", "seven_scales_1d", "unequal_6d"]
FRESH5_NAMES = ["diag120_sharp", "eight_scales_1d", "full36_cond2200", "lowrank136_r8", "modes140_5d",
                "modes35_64d", "outlier_20d", "ring13_sharp", "unequal_10d"]
FRESH6_NAMES = ["diag136_sharp", "full26_cond3000", "lowrank152_r6", "modes120_4d", "modes45_40d",
                "nine_scales_1d", "outlier_28d", "ring14_sharp", "unequal_7d"]
FRESH7_NAMES = ["diag104_sharp", "full30_cond2800", "grid16_sharp", "lowrank168_r5", "modes100_3d",
                "modes40_56d", "outlier_36d", "ring15_sharp", "ring16_sharp", "ten_scales_1d", "unequal_9d"]
FRESH8_NAMES = ["diag144_sharp", "eleven_scales_1d", "full22_cond2600", "lowrank184_r6", "lowrank56_floor",
                "lowrank72_r3", "modes105_5d", "modes28_72d", "outlier_40d", "ring17_sharp", "unequal_11d"]
FRESH9_NAMES = ["diag160_sharp", "full34_cond1800", "lowrank192_r7", "modes115_4d", "modes32_96d",
                "modes60_24d", "outlier_44d", "ring18_sharp", "ring4_sharp", "twelve_scales_1d", "unequal_13d"]
FRESH10_NAMES = ["diag88_sharp", "embedded_ring9_6d", "full18_cond2400", "grid9_sharp", "line8_sharp",
                 "lowrank132_r6", "modes104_4d", "modes36_48d", "outlier_30d", "ring19_sharp", "ring3_wide",
                 "seven_scales_b_1d", "unequal_14d"]
FRESH11_NAMES = ["concentric_rings_sharp", "eight_scales_b_1d", "full16_cond3500", "grid36_sharp", "line10_sharp",
                 "line5_sharp", "lowrank140_r5", "modes110_2d", "ring20_sharp", "six_scales_b_1d", "unequal_15d"]
FRESH12_NAMES = ["five_scales_b_1d", "full20_cond4000", "lowrank150_r4", "modes102_3d", "ring21_sharp",
                 "ring22_sharp", "ring23_sharp", "ring25_sharp", "ring26_sharp", "unequal_16d", "weighted_ring11_sharp"]
FRESH13_NAMES = ["emb_lattice16_5d", "emb_line9_4d", "emb_ring11_7d", "emb_ring14_12d", "emb_ring20_20d",
                 "emb_ring7_3d", "few3_14d", "few4_9d", "four_scales_c_1d", "full14_cond2500", "lowrank160_r3",
                 "modes105_3d", "ring27_sharp", "unequal_17d"]
FRESH14_NAMES = ["emb_line11_6d", "emb_line5_8d", "emb_line6_3d", "emb_line8_10d", "emb_ring10_5d", "five_scales_c_1d",
                 "full22_cond3200", "grid49_sharp", "line13_sharp", "line7_sharp", "lowrank170_r4", "modes108_3d",
                 "unequal_18d"]
FRESH15_NAMES = ["emb_line10_7d", "emb_line12_12d", "emb_line4_6d", "emb_line7_4d", "emb_ring13_9d", "full23_cond2700",
                 "lattice16_sharp", "line6_sharp", "line9_sharp", "lowrank180_r5", "modes112_3d", "six_scales_c_1d",
                 "unequal_19d"]
FRESH16_NAMES = ["diag150_sharp", "emb_ring12_6d", "full25_cond2900", "lowrank100_r4", "lowrank120_r8_floor",
                 "lowrank210_r6", "lowrank230_r9", "lowrank28_r7", "lowrank40_r5", "lowrank64_r2", "modes115_3d",
                 "outlier_22d", "seven_scales_d_1d", "unequal_20d"]
FRESH17_NAMES = ["diag170_sharp", "eight_scales_e_1d", "emb_ring13_7d", "full21_cond2200", "lowrank140_r7_floor",
                 "lowrank190_r8", "lowrank250_r10", "lowrank36_r4", "lowrank50_r6", "lowrank76_r2", "lowrank90_r3",
                 "modes118_3d", "outlier_26d", "unequal_21d"]
FRESH18_NAMES = ["full19_cond2400", "lowrank110_r5", "lowrank130_r9_floor", "lowrank160_r6", "lowrank200_r8",
                 "lowrank240_r7", "lowrank44_r4", "lowrank60_r3", "lowrank84_r2", "modes122_3d", "six_scales_e_1d",
                 "unequal_22d"]
FRESH19_NAMES = ["five_scales_f_1d", "full24_cond2300", "lowrank105_r3", "lowrank135_r7", "lowrank175_r4",
                 "lowrank220_r9", "lowrank260_r8", "lowrank52_r2", "lowrank70_r5", "lowrank95_r6_floor", "modes125_3d",
                 "unequal_23d"]
FRESH20_NAMES = ["five_scales_g_1d", "full26_cond2500", "lowrank145_r6", "lowrank150_r5_floor", "lowrank190_r7_floor",
                 "lowrank205_r3", "lowrank235_r6_floor", "lowrank66_r3_floor", "lowrank80_r4_floor", "lowrank88_r4",
                 "modes128_3d", "unequal_24d"]
FRESH21_NAMES = ["five_scales_h_1d", "full27_cond2600", "lowrank115_r5", "lowrank125_r6_floor", "lowrank165_r7",
                 "lowrank170_r5_floor", "lowrank185_r4", "lowrank58_r3_floor", "lowrank74_r3", "lowrank98_r4_floor",
                 "modes131_3d", "unequal_25d"]
FRESH22_NAMES = ["five_scales_i_1d", "full29_cond2700", "lowrank102_r6", "lowrank108_r5_floor", "lowrank138_r4_floor",
                 "lowrank142_r3", "lowrank178_r6_floor", "lowrank195_r5", "lowrank62_r3_floor", "lowrank68_r4",
                 "modes134_3d", "unequal_26d"]
FRESH23_NAMES = ["five_scales_j_1d", "full31_cond2800", "lowrank112_r3", "lowrank148_r6", "lowrank156_r4_floor",
                 "lowrank172_r5", "lowrank198_r4", "lowrank226_r7", "lowrank78_r4", "lowrank86_r5_floor",
                 "modes137_3d", "unequal_27d"]
FRESH24_NAMES = ["eight_scales_f_1d", "five_scales_k_1d", "four_scales_d_1d", "full33_cond2900", "lowrank164_r4",
                 "modes142_3d", "nine_scales_b_1d", "seven_scales_e_1d", "seven_scales_f_1d", "six_scales_f_1d",
                 "six_scales_g_1d", "unequal_28d"]
FRESH25_NAMES = ["five_scales_l_1d", "full35_cond3100", "lowrank118_r5", "lowrank134_r5_floor", "lowrank152_r4",
                 "lowrank182_r3_floor", "lowrank188_r6", "lowrank216_r3", "lowrank82_r3", "lowrank92_r4_floor",
                 "modes145_3d", "unequal_29d"]
FRESH26_NAMES = ["five_scales_m_1d", "full37_cond3300", "lowrank110_r4_floor", "lowrank124_r3", "lowrank160_r5",
                 "lowrank196_r4", "lowrank232_r6", "lowrank76_r4", "modes148_3d", "unequal_30d"]
FRESH27_NAMES = ["five_scales_n_1d", "full39_cond3500", "lowrank108_r3", "lowrank121_r5", "lowrank130_r4",
                 "lowrank144_r5", "lowrank158_r4_floor", "lowrank168_r3", "lowrank192_r6", "lowrank220_r4",
                 "lowrank250_r5", "modes151_3d", "unequal_31d"]
FRESH28_NAMES = ["five_scales_o_1d", "full40_cond3600", "lowrank134_r6", "lowrank174_r4_floor", "lowrank178_r5",
                 "lowrank214_r3", "lowrank246_r6", "lowrank56_r3", "lowrank66_r3", "lowrank96_r4", "modes154_3d",
                 "unequal_32d"]
FRESH29_NAMES = ["five_scales_p_1d", "full41_cond3700", "lowrank138_r3", "lowrank182_r6", "lowrank186_r5_floor",
                 "lowrank218_r4", "lowrank242_r5", "lowrank52_r4", "lowrank70_r4", "lowrank92_r5", "modes157_3d",
                 "unequal_33d"]
FRESH30_NAMES = ["five_scales_q_1d", "full43_cond3800", "lowrank104_r3", "lowrank146_r4", "lowrank162_r4_floor",
                  "lowrank204_r5", "lowrank228_r3", "lowrank256_r6", "lowrank54_r5", "lowrank68_r5", "modes160_3d",
                  "unequal_34d"]
FRESH31_NAMES = ["five_scales_r_1d", "full44_cond3900", "lowrank106_r4", "lowrank122_r5", "lowrank158_r3",
                  "lowrank176_r3_floor", "lowrank194_r6", "lowrank232_r4", "lowrank252_r5", "lowrank86_r4",
                  "modes163_3d", "unequal_35d"]
FRESH32_NAMES = ["eight_scales_g_1d", "five_scales_s_1d", "five_scales_t_1d", "full40_cond2500", "line11_sharp",
                  "lowrank136_r4", "modes127_3d", "nine_scales_c_1d", "seven_scales_g_1d", "seven_scales_h_1d",
                  "six_scales_h_1d", "six_scales_i_1d", "two_wide_1d", "unequal_39d"]
FRESH33_NAMES = ["eight_scales_h_1d", "five_scales_u_1d", "four_scales_e_1d", "full42_cond2700", "line12_sharp",
                  "lowrank132_r3", "modes109_3d", "nine_scales_d_1d", "seven_scales_i_1d", "seven_scales_j_1d",
                  "six_scales_j_1d", "six_scales_k_1d", "three_wide_1d", "unequal_41d"]
FRESH34_NAMES = ["eight_scales_i_1d", "eight_scales_j_1d", "five_scales_v_1d", "five_scales_w_1d",
                  "four_scales_f_1d", "full46_cond3100", "line14_sharp", "lowrank138_r5", "modes113_3d",
                  "seven_scales_k_1d", "six_scales_l_1d", "six_scales_m_1d", "two_wide_b_1d", "unequal_43d"]
FRESH35_NAMES = ["eight_scales_k_1d", "five_scales_x_1d", "five_scales_y_1d", "four_scales_g_1d", "full48_cond3300",
                  "line15_sharp", "lowrank134_r4", "modes117_3d", "seven_scales_l_1d", "seven_scales_m_1d",
                  "six_scales_n_1d", "six_scales_o_1d", "three_wide_b_1d", "unequal_45d"]
FRESH36_NAMES = ["eight_scales_l_1d", "five_scales_aa_1d", "five_scales_z_1d", "four_scales_h_1d", "full50_cond3500",
                  "line16_sharp", "lowrank146_r3", "modes121_3d", "seven_scales_n_1d", "seven_scales_o_1d",
                  "six_scales_p_1d", "six_scales_q_1d", "two_wide_c_1d", "unequal_47d"]
FRESH37_NAMES = ["five_scales_ab_1d", "full17_cond2100", "full32_cond2600", "full38_cond3000", "full45_cond3400",
                  "full52_cond2900", "lowrank156_r4", "modes123_3d", "modes38_52d", "outlier_34d", "unequal_49d"]
FRESH38_NAMES = ["five_scales_ac_1d", "full13_cond2800", "full15_cond3100", "full47_cond2700", "full49_cond3600",
                  "full51_cond2400", "full54_cond3200", "full58_cond2900", "lowrank166_r4", "modes139_3d", "modes44_60d",
                  "outlier_58d", "unequal_51d"]
FRESH39_NAMES = ["five_scales_ad_1d", "full57_cond3100", "lowrank114_r4_floor", "lowrank127_r5", "lowrank179_r4",
                  "lowrank209_r5_floor", "lowrank222_r6", "lowrank248_r3", "lowrank46_r3", "lowrank93_r4",
                  "modes143_3d", "unequal_53d"]
FRESH40_NAMES = ["five_scales_ae_1d", "full11_cond3300", "full53_cond2600", "full55_cond3000", "full56_cond2300",
                  "full60_cond3400", "full63_cond2800", "lowrank187_r4", "modes147_3d", "modes46_64d", "outlier_46d",
                  "unequal_55d"]
FRESH41_NAMES = ["five_scales_af_1d", "full10_cond2700", "full59_cond3100", "full61_cond2500", "full62_cond3600",
                  "full64_cond2200", "full66_cond3000", "lowrank189_r5", "modes149_3d", "modes48_66d", "outlier_48d",
                  "unequal_57d"]
FRESH42_NAMES = ["five_scales_ag_1d", "full65_cond2400", "full67_cond3300", "full68_cond2700", "full70_cond3500",
                  "full72_cond2300", "full9_cond2900", "lowrank191_r4", "modes153_3d", "modes50_68d", "outlier_50d",
                  "unequal_59d"]
FRESH43_NAMES = ["five_scales_ah_1d", "full69_cond2600", "lowrank101_r4_floor", "lowrank117_r5", "lowrank153_r4",
                  "lowrank197_r5_floor", "lowrank201_r6", "lowrank238_r3", "lowrank58_r4", "lowrank83_r3", "modes159_3d",
                  "unequal_61d"]
FRESH44_NAMES = ["five_scales_ai_1d", "full71_cond2800", "lowrank119_r4_floor", "lowrank131_r5", "lowrank167_r4",
                  "lowrank183_r5_floor", "lowrank213_r6", "lowrank244_r3", "lowrank63_r4", "lowrank97_r3", "modes161_3d",
                  "unequal_63d"]
FRESH45_NAMES = ["five_scales_aj_1d", "full73_cond2500", "full74_cond3200", "full75_cond2200", "full76_cond3600",
                  "full77_cond2800", "full78_cond3000", "lowrank193_r4", "modes165_3d", "modes52_70d", "outlier_52d",
                  "unequal_65d"]
FRESH46_NAMES = ["five_scales_ak_1d", "full79_cond2600", "lowrank104_r6_floor", "lowrank128_r4_floor", "lowrank142_r4",
                  "lowrank146_r5_floor", "lowrank166_r3_floor", "lowrank214_r6_floor", "lowrank64_r4_floor",
                  "lowrank72_r5_floor", "lowrank88_r3_floor", "modes167_3d", "unequal_67d"]
FRESH47_NAMES = ["eight_scales_m_1d", "five_scales_al_1d", "five_scales_am_1d", "four_scales_i_1d", "full80_cond2700",
                  "lowrank122_r4", "lowrank196_r5", "modes169_3d", "nine_scales_e_1d", "seven_scales_p_1d",
                  "six_scales_r_1d", "six_scales_s_1d", "unequal_69d"]
FRESH2_NAMES = ["diag192", "five_scales_1d", "full12_cond3000", "lowrank200_r5", "modes120_3d",
                "modes40_24d", "outlier_4d", "ring5_sharp", "unequal_12d"]


@pytest.fixture(scope="module")
def suite():
    return {p.name: p for p in problem_suite("all")}


def test_the_split_is_the_recorded_one():
    # changing the list or SPLIT_SEED re-splits the suite: a decision, so it must show here
    assert SPLIT_SEED == 20261203
    assert suite_split() == {"tuning": TUNING, "validation": VALIDATION}
    assert [p.name for p in problem_suite("tuning")] == TUNING
    assert [p.name for p in problem_suite("validation")] == VALIDATION
    assert sorted(SPLIT_TUNING + VALIDATION) == sorted(SUITE) and len(SUITE) >= 16
    # problems added after the split join the tuning half only; the validation half is the split's
    assert sorted(TUNING_ADDITIONS) == ADDED and not set(ADDED) & set(SUITE)
    assert sorted(p.name for p in problem_suite("all")) == sorted(TUNING + VALIDATION)


# (set, its pinned names, its dict, cond ratio, modes, weight ratio), in the order the sets were fixed
_SETS_IN_ORDER = [
    ("holdout", RESERVED, HOLDOUT, 499, 50, 9999),                 # RESULTS 11h
    ("fresh", FRESH_NAMES, FRESH, 999, 100, 999),                  # few-step 14
    ("fresh2", FRESH2_NAMES, FRESH2, 999, 100, 999),               # few-step 14i
    ("fresh3", FRESH3_NAMES, FRESH3, 999, 100, 999),               # few-step 15
    ("fresh4", FRESH4_NAMES, FRESH4, 999, 100, 999),               # few-step 15h
    ("fresh5", FRESH5_NAMES, FRESH5, 999, 100, 999),               # few-step 16
    ("fresh6", FRESH6_NAMES, FRESH6, 999, 100, 999),               # few-step 16f
    ("fresh7", FRESH7_NAMES, FRESH7, 999, 100, 999),               # few-step 18
    ("fresh8", FRESH8_NAMES, FRESH8, 999, 100, 999),               # few-step 19
    ("fresh9", FRESH9_NAMES, FRESH9, 999, 100, 999),               # few-step 21
    ("fresh10", FRESH10_NAMES, FRESH10, 999, 100, 999),            # few-step 22
    ("fresh11", FRESH11_NAMES, FRESH11, 999, 100, 999),            # few-step 23
    ("fresh12", FRESH12_NAMES, FRESH12, 999, 100, 999),            # few-step 24
    ("fresh13", FRESH13_NAMES, FRESH13, 999, 100, 999),            # few-step 25
    ("fresh14", FRESH14_NAMES, FRESH14, 999, 100, 999),            # few-step 26
    ("fresh15", FRESH15_NAMES, FRESH15, 999, 100, 999),            # few-step 26d
    ("fresh16", FRESH16_NAMES, FRESH16, 999, 100, 999),            # few-step 27b
    ("fresh17", FRESH17_NAMES, FRESH17, 999, 100, 999),            # few-step 28b
    ("fresh18", FRESH18_NAMES, FRESH18, 999, 100, 999),            # few-step 29b
    ("fresh19", FRESH19_NAMES, FRESH19, 999, 100, 999),            # few-step 31b
    ("fresh20", FRESH20_NAMES, FRESH20, 999, 100, 999),            # few-step 32b
    ("fresh21", FRESH21_NAMES, FRESH21, 999, 100, 999),            # few-step 33b
    ("fresh22", FRESH22_NAMES, FRESH22, 999, 100, 999),            # few-step 33d
    ("fresh23", FRESH23_NAMES, FRESH23, 999, 100, 999),            # few-step 34b
    ("fresh24", FRESH24_NAMES, FRESH24, 999, 100, 999),            # few-step 35b
    ("fresh25", FRESH25_NAMES, FRESH25, 999, 100, 999),            # few-step 36b
    ("fresh26", FRESH26_NAMES, FRESH26, 999, 100, 999),            # few-step 37b
    ("fresh27", FRESH27_NAMES, FRESH27, 999, 100, 999),            # few-step 39b
    ("fresh28", FRESH28_NAMES, FRESH28, 999, 100, 999),            # few-step 40b
    ("fresh29", FRESH29_NAMES, FRESH29, 999, 100, 999),            # few-step 41b
    ("fresh30", FRESH30_NAMES, FRESH30, 999, 100, 999),            # few-step 42b
    ("fresh31", FRESH31_NAMES, FRESH31, 999, 100, 999),            # few-step 43b
    ("fresh32", FRESH32_NAMES, FRESH32, 999, 100, 999),            # few-step 44b
    ("fresh33", FRESH33_NAMES, FRESH33, 999, 100, 999),            # few-step 45b
    ("fresh34", FRESH34_NAMES, FRESH34, 999, 100, 999),            # few-step 45f
    ("fresh35", FRESH35_NAMES, FRESH35, 999, 100, 999),            # few-step 46b
    ("fresh36", FRESH36_NAMES, FRESH36, 999, 100, 999),            # few-step 47b
    ("fresh37", FRESH37_NAMES, FRESH37, 999, 100, 999),            # few-step 50b
    ("fresh38", FRESH38_NAMES, FRESH38, 999, 100, 999),            # few-step 51b
    ("fresh39", FRESH39_NAMES, FRESH39, 999, 100, 999),            # few-step 52b
    ("fresh40", FRESH40_NAMES, FRESH40, 999, 100, 999),            # few-step 53b
    ("fresh41", FRESH41_NAMES, FRESH41, 999, 100, 999),            # few-step 54b
    ("fresh42", FRESH42_NAMES, FRESH42, 999, 100, 999),            # few-step 55b
    ("fresh43", FRESH43_NAMES, FRESH43, 999, 100, 999),            # few-step 56b
    ("fresh44", FRESH44_NAMES, FRESH44, 999, 100, 999),            # few-step 57b
    ("fresh45", FRESH45_NAMES, FRESH45, 999, 100, 999),            # few-step 58b
    ("fresh46", FRESH46_NAMES, FRESH46, 999, 100, 999),            # few-step 59c
    ("fresh47", FRESH47_NAMES, FRESH47, 999, 100, 999),            # few-step 59g
]
# (set, names, dict, the names of the halves and of every set fixed before it, cond ratio, modes, weight ratio)
RESERVED_SETS = [(half, names, table, TUNING + VALIDATION + [n for _, before, *_ in _SETS_IN_ORDER[:i] for n in before],
                  cond, modes, ratio)
                 for i, (half, names, table, cond, modes, ratio) in enumerate(_SETS_IN_ORDER)]


@pytest.mark.parametrize("half,names,table,earlier,cond,modes,ratio", RESERVED_SETS,
                         ids=[r[0] for r in RESERVED_SETS])
def test_each_reserved_set_is_fixed_apart_from_every_other_and_spans_the_axes(
        half, names, table, earlier, cond, modes, ratio):
    """``HOLDOUT`` and ``FRESH`` to ``FRESH47``: the names are pinned, a set shares none with the halves
    or with any set fixed before it, "all" leaves it out, and on its own it covers the suite's
    axes: dimension 1 to >= 128, singular and ill-conditioned covariances (eigenvalue ratio >=
    ``cond``), >= ``modes`` modes, weight ratios >= ``ratio``."""
    assert [p.name for p in problem_suite(half)] == names == sorted(table)
    assert not set(names) & set(earlier)
    assert not set(names) & {p.name for p in problem_suite("all")}
    mix = [suite_problem(n).mixture for n in names]
    assert min(m.dim for m in mix) == 1 and max(m.dim for m in mix) >= 128
    assert any(not m.is_diagonal and float((m.evals < 1e-12).float().mean()) > 0.9 for m in mix)
    assert any(not m.is_diagonal and float(m.evals.max() / m.evals.min()) >= cond for m in mix
               if bool((m.evals > 0).all()))
    assert max(m.num_components for m in mix) >= modes
    assert max(float(m.weights.max() / m.weights.min()) for m in mix) >= ratio


def test_the_tuning_additions_are_low_rank_and_new():
    # what they add to the tuning half: (near-)singular covariances, unlike any split tuning
    # problem, in dimensions and ranks other than the validation half's lowrank64 / lowrank256
    for name in ADDED_LOW_RANK:
        m = suite_problem(name).mixture
        ev = m.evals
        assert float((ev < 1.01e-4).float().mean()) > 0.5, name     # most directions <= 0.01^2
        assert m.dim not in (64, 256), name
    assert float(suite_problem("lowrank48_floor").mixture.evals.min()) == pytest.approx(1e-4, rel=1e-6)
    assert float(suite_problem("lowrank32_r4").mixture.evals.min()) < 1e-12
    for name in SPLIT_TUNING:
        assert float(suite_problem(name).mixture.evals.min()) > 1e-5, name


def _sharp_ring(m):
    """(modes, radius, std / chord) if m is equal-weight isotropic modes on a circle about 0."""
    r = m.means.norm(dim=1)
    if m.dim != 2 or float(r.std()) > 1e-9 * float(r.mean()) or float(m.weights.std()) > 1e-12:
        return None
    k = m.means.shape[0]
    return k, float(r.mean()), float(m.evals.sqrt().max()) / (2 * float(r.mean()) * math.sin(math.pi / k))


def test_the_tuning_rings_are_sharp_rings_unlike_every_other_sets():
    # what they add: sharp rings (mode std < 0.05 of the chord between neighbours); the split's
    # tuning half has none, and each has a mode count and radius of its own
    for name in SPLIT_TUNING:
        assert _sharp_ring(suite_problem(name).mixture) is None, name
    shapes = {}
    for name in ADDED_RINGS + ["ring8_sharp"] + [n for n in RESERVED + FRESH_NAMES + FRESH2_NAMES
                                                 + FRESH3_NAMES + FRESH4_NAMES + FRESH5_NAMES
                                                 + FRESH6_NAMES + FRESH7_NAMES
                                                 + FRESH8_NAMES + FRESH9_NAMES + FRESH10_NAMES
                                                 + FRESH11_NAMES + FRESH12_NAMES + FRESH13_NAMES
                                                 if n.startswith("ring")]:
        k, radius, rel = _sharp_ring(suite_problem(name).mixture)
        assert 0.01 < rel < 0.05, name
        shapes[name] = (k, radius)
    assert len(set(shapes.values())) == len(shapes)
    assert len({k for k, _ in shapes.values()}) == len(shapes)      # each its own mode count


def test_bad_half_and_bad_name_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown suite half 'tune'.*'tuning', 'validation', 'all', "
                                         r"'holdout'.*did you mean 'tuning'"):
        problem_suite("tune")
    with pytest.raises(ValueError, match=r"unknown suite problem 'ring9'.*did you mean 'ring8'"):
        suite_problem("ring9")


def _spread(gm):
    """Median nearest-neighbour distance between component means (the data's own scale for a
    single component: sqrt of its largest covariance eigenvalue)."""
    if gm.num_components == 1:
        return float(gm.evals.max().sqrt())
    d = torch.cdist(gm.means, gm.means) + torch.diag(torch.full((gm.num_components,), math.inf,
                                                                  dtype=torch.float64))
    return float(d.min(1).values.median())


def test_the_suite_spans_the_axes_the_benchmark_needs(suite):
    mix = {n: p.mixture for n, p in suite.items()}
    dims = [m.dim for m in mix.values()]
    assert min(dims) == 1 and max(dims) >= 256
    # sharpness: the smallest component std relative to the spread reaches 0.02, the largest 1
    rel = []
    for m in mix.values():
        pos = m.evals[m.evals > 0].sqrt()
        rel += [float(pos.min()) / _spread(m), float(pos.max()) / _spread(m)]
    assert min(rel) <= 0.021 and max(rel) >= 1.0
    assert any(not m.is_diagonal and float((m.evals == 0).float().mean()) > 0.5 for m in mix.values())
    full = [m for m in mix.values() if not m.is_diagonal and bool((m.evals > 0).all())]
    assert max(float(m.evals.max() / m.evals.min()) for m in full) >= 1999
    assert max(m.num_components for m in mix.values()) >= 50
    assert max(float(m.weights.max() / m.weights.min()) for m in mix.values()) >= 999
    # a far outlier: a component of weight <= 1 % whose mean is >= 10 of its neighbours' stds
    # away from every other mean
    far = False
    for m in mix.values():
        for k in range(m.num_components):
            if float(m.weights[k]) <= 0.0101:
                d = (m.means - m.means[k]).norm(dim=1)
                d[k] = math.inf
                j = int(d.argmin())
                far |= float(d[j]) >= 10 * float(m.evals[j].max().sqrt())
    assert far


@pytest.mark.parametrize("sde", [VPSDE(), EDMSDE()], ids=["VP", "EDM"])
def test_every_exact_score_is_the_gradient_of_the_exact_log_density(suite, sde):
    g = torch.Generator().manual_seed(0)
    for name, p in {**suite, **{q.name: q for q in problem_suite("holdout")}}.items():
        gm = p.mixture
        t = torch.tensor([0.3 * sde.T + 0.7 * sde.eps], dtype=torch.float64).expand(4)
        m, s = sde.marginal(t[:1])
        x = (m * gm.sample(4, generator=g, dtype=torch.float64)
             + s * torch.randn(4, gm.dim, generator=g, dtype=torch.float64)).requires_grad_(True)
        grad, = torch.autograd.grad(gm.log_prob(x, sde, t).sum(), x)
        sc = gm.score(x.detach(), sde, t)
        assert torch.allclose(sc, grad, rtol=1e-8, atol=1e-10 * float(grad.abs().max())), name
        assert isinstance(p, SuiteProblem) and p.dim == gm.dim


def test_the_benchmark_config_runs_a_suite_problem_by_name():
    from sde_diffusion.configs import compose
    from sde_diffusion.configs.benchmark import build_problem_node, cells_from_config
    cfg = compose(["problem=suite", "problem.suite=mix16_10", "nfe=10"], config_name="benchmark")
    cells = cells_from_config(cfg)
    spec = cells[0]["problem"]
    assert spec["name"] == "suite_mix16_10"
    gm = build_problem_node(spec["mixture"])
    assert torch.equal(gm.means, suite_problem("mix16_10").mixture.means)
    with pytest.raises(ValueError, match="unknown suite problem 'mix17'"):
        build_problem_node({"_target_": "sde_diffusion.analytic.suite_mixture", "name": "mix17"})
